//! Keys a deployment may have: the ones read, other real LiteLLM keys accepted
//! silently, and advice for common mistakes.

pub(crate) const DEPLOYMENT_KEYS: &[&str] =
    &["model_name", "litellm_params", "model_info", "priority", "weight", "rpm", "tpm"];

pub(crate) const PARAMS_KEYS: &[&str] = &[
    "model",
    "api_base",
    "api_key",
    "api_version",
    "aws_region_name",
    "vertex_project",
    "vertex_location",
    "vertex_credentials",
    "region_name",
    "order",
    "weight",
    "rpm",
    "tpm",
    "timeout",
    "stream_timeout",
    "metadata",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_profile_name",
    "aws_role_name",
    "aws_session_name",
    "aws_web_identity_token",
    "aws_external_id",
    "aws_sts_endpoint",
    "input_cost_per_token",
    "output_cost_per_token",
    "aws_bedrock_runtime_endpoint",
    "custom_llm_provider",
    "vertex_ai_project",
    "vertex_ai_location",
    "cooldown_time",
    "ssl_verify",
];

/// Other real LiteLLM `litellm_params`: accepted, and listed once as not used by llm-router.
pub(crate) const PARAMS_ACCEPTED: &[&str] = &[
    "max_tokens",
    "temperature",
    "top_p",
    "drop_params",
    "additional_drop_params",
    "input_cost_per_second",
    "output_cost_per_second",
    "max_parallel_requests",
    "use_in_pass_through",
    "tags",
    "num_retries",
    // LiteLLM hands it to the provider's SDK client, which retries the same deployment; this
    // gateway retries on the next deployment instead (router num_retries).
    "max_retries",
    "organization",
    "base_model",
    "seed",
    "stop",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "extra_headers",
    "headers",
    "extra_body",
    "mock_response",
    "merge_reasoning_content_in_choices",
    "azure_ad_token",
    "tenant_id",
    "client_id",
    "client_secret",
    "azure_username",
    "azure_password",
    "api_type",
    "model_id",
    "thinking",
    "reasoning_effort",
    "stream",
    "user",
    "cache_control_injection_points",
    "litellm_credential_name",
    "configurable_clientside_auth_params",
    "budget_duration",
    "max_budget",
    "supports_system_message",
    "max_completion_tokens",
];

pub(crate) const METADATA_KEYS: &[&str] = &["region", "latency_target"];
pub(crate) const MODEL_INFO_KEYS: &[&str] = &["id", "input_cost_per_token", "output_cost_per_token"];
pub(crate) const IN_PARAMS: &str = "belongs inside litellm_params";
pub(crate) const DEPLOYMENT_HINTS: &[(&str, &str)] = &[
    ("model", IN_PARAMS),
    ("api_base", IN_PARAMS),
    ("api_key", IN_PARAMS),
    ("aws_region_name", IN_PARAMS),
    ("vertex_location", IN_PARAMS),
    ("metadata", IN_PARAMS),
    ("timeout", IN_PARAMS),
    ("stream_timeout", IN_PARAMS),
    ("order", "use priority here, or litellm_params.order"),
    ("region", "set litellm_params.metadata.region (or aws_region_name / vertex_location)"),
];
pub(crate) const PARAMS_HINTS: &[(&str, &str)] = &[
    ("priority", "use litellm_params.order, or put priority next to litellm_params"),
    ("region", "use metadata.region, region_name, aws_region_name or vertex_location"),
    ("model_name", "it goes next to litellm_params, not inside it"),
    ("model_info", "it goes next to litellm_params, not inside it"),
    ("latency_target", "put it under metadata: {latency_target: MS}"),
];
