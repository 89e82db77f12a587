//! Contract suite for the `workflows` port (to be written).
