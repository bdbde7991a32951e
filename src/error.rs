//! The error every dashboard server function returns. Its `Display` is the sentence the
//! user reads; it travels to the browser (or into the URL of a no-JavaScript form post) as JSON.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The input was refused; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    #[error("Please sign in to continue.")]
    SignInRequired,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Throttled(String),
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("The request could not be completed: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status a server function's error answers with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid(_) => 400,
            AppError::SignInRequired => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::Throttled(_) => 429,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(detail)
            | ServerFnErrorErr::MissingArg(detail)
            | ServerFnErrorErr::Deserialization(detail)
            // The browser could not build the arguments from the form it was given.
            | ServerFnErrorErr::Serialization(detail) => incomplete_form(&detail),
            other => AppError::Transport(other.to_string()),
        }
    }
}

/// A form whose fields could not be read (one left empty or unchosen): a sentence naming the
/// field, never the decoder's own words.
fn incomplete_form(detail: &str) -> AppError {
    let missing = detail
        .split("missing field")
        .nth(1)
        .and_then(|rest| {
            rest.split(['`', '"', '\\'])
                .find(|part| !part.trim().is_empty())
        })
        .map(|name| name.trim().replace('_', " "));
    AppError::Invalid(match missing {
        Some(field) => format!("Please fill in or choose the {field} and try again."),
        None => {
            "Some of the form's values could not be read: check each field and try again.".into()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_forms_name_the_missing_field_in_a_sentence() {
        for detail in [
            "Custom(\"missing field `plan`\")",
            "missing field `plan`",
            "Deserialization error: Custom(\"missing field \\\"plan\\\"\")",
        ] {
            assert_eq!(
                AppError::from_server_fn_error(ServerFnErrorErr::Deserialization(detail.into())),
                AppError::Invalid("Please fill in or choose the plan and try again.".into()),
                "{detail}"
            );
        }
        let other = AppError::from_server_fn_error(ServerFnErrorErr::Args("invalid digit".into()));
        assert!(!other.to_string().contains("digit"));
    }
}
