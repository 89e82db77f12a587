//! OCI Distribution registry (to be written).
