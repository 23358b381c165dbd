use thiserror::Error;

/// Why a piece of user input was refused. Each variant maps to one message of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error("username must be 1-20 characters without spaces or control characters")]
    Username,
    #[error("password must be 8-20 characters")]
    PasswordLength,
    #[error("email address is invalid")]
    Email,
    #[error("display name must be at most 20 characters")]
    DisplayName,
    #[error("name must be 1-{max} characters")]
    Name { max: usize },
    #[error("{field} is invalid: {reason}")]
    Field { field: &'static str, reason: String },
}
