//! Vertex AI, where the gateway serves two publishers' models: Claude ([`claude`], Anthropic's
//! Messages body on `:rawPredict`) and Gemini ([`gemini`], `:generateContent`). What they share
//! lives here: the model's path from the deployment's project and location, and Google's error
//! shape (`google_error`), which Vertex answers its own failures (quota, auth) in whichever
//! model is behind it.

pub mod claude;
mod error;
pub mod gemini;

use super::Target;
use crate::RequestError;

pub(crate) use error::google_error;

/// A deployment whose configuration cannot make a request (the control plane should have
/// refused it): answered as the gateway's own 500, which no retry will fix.
fn misconfigured(target: &Target, what: &str) -> RequestError {
    RequestError {
        status: 500,
        kind: "api_error",
        code: "deployment_misconfigured",
        message: format!("the {} deployment of '{}' has no {what}", target.kind.display_name(), target.model),
        param: None,
    }
}

/// `/v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}`.
pub(crate) fn model_path(target: &Target, publisher: &str) -> Result<String, RequestError> {
    let project = target.vertex_project.as_deref().filter(|p| !p.is_empty());
    let project = project.ok_or_else(|| misconfigured(target, "vertex_project"))?;
    let location = target.vertex_location.as_deref().filter(|l| !l.is_empty());
    let location = location.ok_or_else(|| misconfigured(target, "vertex_location"))?;
    Ok(format!("/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{}", target.model))
}
