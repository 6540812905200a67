"""The eleven eBPF registers.

R0 holds return values (of helpers, of functions and of the program), R1 to R5 pass arguments
and are clobbered by calls, R6 to R9 survive calls, and R10 (:data:`RFP`) is the read-only
frame pointer: the stack lives just below it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "R0",
    "R1",
    "R2",
    "R3",
    "R4",
    "R5",
    "R6",
    "R7",
    "R8",
    "R9",
    "R10",
    "RFP",
    "Register",
]


class Register(IntEnum):
    """An eBPF register, ``R0`` to ``R10``.

    ``str(Register.R1)`` is ``"r1"``, the name used in disassembly; ``int()`` gives the number
    encoded in an instruction.
    """

    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10
    RFP = 10
    """Alias of :attr:`R10`, the frame pointer."""

    def __str__(self) -> str:
        return f"r{self._value_}"

    def __format__(self, spec: str) -> str:
        if not spec:
            return f"r{self._value_}"
        return int.__format__(self._value_, spec)

    @property
    def w(self) -> str:
        """The name of the low 32 bits of the register in disassembly, e.g. ``"w1"``."""
        return f"w{self._value_}"


R0: Final = Register.R0
R1: Final = Register.R1
R2: Final = Register.R2
R3: Final = Register.R3
R4: Final = Register.R4
R5: Final = Register.R5
R6: Final = Register.R6
R7: Final = Register.R7
R8: Final = Register.R8
R9: Final = Register.R9
R10: Final = Register.R10
RFP: Final = Register.R10

REGISTERS: Final[tuple[Register, ...]] = tuple(Register)
"""Every register, indexed by its number (``REGISTERS[3] is R3``)."""
