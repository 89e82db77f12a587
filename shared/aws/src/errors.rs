//! Mapping SDK errors onto `PortError`, keeping the service's message.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tre_core::ports::PortError;

/// A backend error with the service's code and message (or the transport failure).
pub(crate) fn backend<E>(what: &str, e: aws_sdk_dynamodb::error::SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    match &e {
        aws_sdk_dynamodb::error::SdkError::ServiceError(se) => {
            let err = se.err();
            PortError::Backend(format!(
                "{what}: {}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            ))
        }
        other => PortError::Backend(format!("{what}: {other}")),
    }
}

/// The service error code of an SDK error, if it is a service error.
pub(crate) fn code<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match e {
        aws_sdk_dynamodb::error::SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}
