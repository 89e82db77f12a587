//! Contract suite for the `queue` port (to be written).
