//! tre-stepfunctions
