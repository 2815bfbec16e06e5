"""One small class per ASL state type.

Each class offers ``start(it, run, chain, st)`` (do the state's work right
after it is entered, or again after a retry back-off) and
``poll(it, run, chain, st) -> bool`` (make progress on a state that is
waiting; return False while blocked).  ``it`` is the
:class:`~pilothouse.engine.machine.Interpreter`, ``run`` the run positioned
at the state, ``chain`` the runs from the root down to ``run`` and ``st``
the state's definition.
"""

from .choice_state import ChoiceState
from .fail_state import FailState
from .map_state import MapState
from .parallel_state import ParallelState
from .pass_state import PassState
from .succeed_state import SucceedState
from .task_state import TaskState
from .wait_state import WaitState

STATE_TYPES = {
    "Pass": PassState,
    "Task": TaskState,
    "Choice": ChoiceState,
    "Wait": WaitState,
    "Succeed": SucceedState,
    "Fail": FailState,
    "Parallel": ParallelState,
    "Map": MapState,
}

__all__ = ["STATE_TYPES"]
