//! Contract suite for the `table` port (to be written).
