//! Integer arithmetic and logic: ADD/ADC/SUB/SBB/CMP/AND/OR/XOR/TEST/INC/DEC/NEG/NOT and the
//! status-flag computations they share.
