//! The provider a deployment names with the prefix of LiteLLM's `model`
//! (`bedrock/anthropic.claude-…`, `vertex_ai/gemini-2.0-flash`, `gpt-4o`): the one place that
//! splits the prefix off and says what it means. The control plane picks endpoints and auth
//! from it; the filter picks the API dialect ([`crate::providers::ProviderKind`]) from it.

/// Prefixes LiteLLM knows that this gateway speaks to as OpenAI-compatible servers.
const OPENAI_COMPATIBLE_PREFIXES: &[&str] = &[
    "gemini",
    "mistral",
    "groq",
    "together_ai",
    "ollama",
    "ollama_chat",
    "cohere",
    "cohere_chat",
    "deepseek",
    "fireworks_ai",
    "perplexity",
    "xai",
    "openrouter",
    "huggingface",
    "hosted_vllm",
    "vllm",
    "azure_ai",
    "sagemaker",
    "databricks",
    "cerebras",
    "nvidia_nim",
    "deepinfra",
    "anyscale",
    "lm_studio",
    "watsonx",
    "cloudflare",
    "replicate",
    "ai21",
    "text-completion-openai",
    "codestral",
    "friendliai",
    "sambanova",
    "github",
    "litellm_proxy",
    "llamafile",
    "dashscope",
    "moonshot",
];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Provider {
    Bedrock,
    VertexAi,
    Azure,
    /// `openai/…`, or a model without a prefix.
    OpenAi,
    Anthropic,
    /// Any other prefix, spoken to as an OpenAI-compatible server at its `api_base`.
    OpenAiCompatible(String),
}

impl Provider {
    pub fn from_prefix(prefix: &str) -> Provider {
        match prefix {
            "bedrock" => Provider::Bedrock,
            "vertex_ai" => Provider::VertexAi,
            "azure" => Provider::Azure,
            "openai" => Provider::OpenAi,
            "anthropic" => Provider::Anthropic,
            other => Provider::OpenAiCompatible(other.to_owned()),
        }
    }

    /// LiteLLM's prefix (`bedrock`, `vertex_ai`, `groq`, …).
    pub fn prefix(&self) -> &str {
        match self {
            Provider::Bedrock => "bedrock",
            Provider::VertexAi => "vertex_ai",
            Provider::Azure => "azure",
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::OpenAiCompatible(prefix) => prefix,
        }
    }

    /// False for a prefix LiteLLM does not know (likely a typo; treated as OpenAI-compatible).
    pub fn is_known(&self) -> bool {
        match self {
            Provider::OpenAiCompatible(prefix) => OPENAI_COMPATIBLE_PREFIXES.contains(&prefix.as_str()),
            Provider::Bedrock | Provider::VertexAi | Provider::Azure | Provider::OpenAi | Provider::Anthropic => true,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.prefix())
    }
}

/// Splits LiteLLM's whole `model` into the provider and the provider's model id. No prefix
/// means OpenAI; `bedrock/converse/ID` drops `converse/` (LiteLLM's route selector, not part
/// of the id).
pub fn split_model(model: &str) -> (Provider, String) {
    match model.split_once('/') {
        None => (Provider::OpenAi, model.to_owned()),
        Some((prefix, rest)) => {
            let provider = Provider::from_prefix(prefix);
            let rest = match provider {
                Provider::Bedrock => rest.strip_prefix("converse/").unwrap_or(rest),
                _ => rest,
            };
            (provider, rest.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_split_and_round_trip() {
        assert_eq!(
            split_model("bedrock/converse/us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            (Provider::Bedrock, "us.anthropic.claude-3-5-sonnet-20241022-v2:0".into())
        );
        assert_eq!(split_model("gpt-4o"), (Provider::OpenAi, "gpt-4o".into()));
        assert_eq!(split_model("vertex_ai/claude-3@x"), (Provider::VertexAi, "claude-3@x".into()));
        assert_eq!(
            split_model("hosted_vllm/meta/llama"),
            (Provider::OpenAiCompatible("hosted_vllm".into()), "meta/llama".into())
        );
        for p in ["bedrock", "vertex_ai", "azure", "openai", "anthropic", "groq", "nonsense"] {
            assert_eq!(Provider::from_prefix(p).prefix(), p);
        }
        assert!(Provider::from_prefix("groq").is_known());
        assert!(!Provider::from_prefix("gorq").is_known());
    }
}
