//! Contract suite for the `object_store` port (to be written).
