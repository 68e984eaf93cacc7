"""POT's ``openvino.tools.pot.engines.utils``: the statistics helpers custom engines call.

They keep POT 2023.3's formats (fastpot.compat.pot_engine): statistics accumulate as
``{node: {stat_name: [(dataset_index, value)]}}`` and come back sorted by index.
"""

from __future__ import annotations

from fastpot.compat.pot_engine import (
    add_tensor_names,
    align_stat_names_with_results,
    append_stats,
    cast_friendly_names,
    collect_model_outputs,
    get_clean_name,
    process_accumulated_stats,
    process_raw_output,
    restore_original_node_names,
    update_stats,
)

__all__ = [
    "add_tensor_names",
    "align_stat_names_with_results",
    "append_stats",
    "cast_friendly_names",
    "collect_model_outputs",
    "get_clean_name",
    "process_accumulated_stats",
    "process_raw_output",
    "restore_original_node_names",
    "update_stats",
]
