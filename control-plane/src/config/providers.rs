//! LiteLLM's providers as this gateway reads them: which prefixes it speaks to, their default
//! endpoints and environment fallbacks, which it refuses (and what to write instead), and the
//! provider LiteLLM infers for a model name without a prefix.

use super::Provider;

/// How the gateway speaks to one LiteLLM provider prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Translated to the provider's own API (bedrock, vertex_ai, azure, anthropic, openai).
    Native,
    /// An OpenAI-compatible chat API at `default_base` (None: `api_base` is needed).
    OpenAiCompatible(Compatible),
    /// Not spoken to: the text says why and what to write instead.
    Refused(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compatible {
    /// LiteLLM's default `api_base` for the prefix; None when LiteLLM has none.
    pub default_base: Option<&'static str>,
    /// Environment variables LiteLLM reads for `api_base` when the config gives none, in order.
    pub base_env: &'static [&'static str],
    /// Environment variables LiteLLM reads for `api_key` when the config gives none, in order.
    pub key_env: &'static [&'static str],
    /// Ollama: LiteLLM's `api_base` is the server's root; its OpenAI-compatible API is at `/v1`.
    pub append_v1: bool,
}

const fn compatible(
    default_base: Option<&'static str>,
    base_env: &'static [&'static str],
    key_env: &'static [&'static str],
) -> Support {
    Support::OpenAiCompatible(Compatible { default_base, base_env, key_env, append_v1: false })
}

/// LiteLLM's OpenAI-compatible providers: prefix, default `api_base`, and the environment
/// variables it falls back to for `api_base` and `api_key`.
///
/// Read from LiteLLM (BerriAI/litellm) source:
/// `litellm/litellm_core_utils/get_llm_provider_logic.py` (`_get_openai_compatible_provider_info`:
/// nvidia_nim, cerebras, sambanova, deepseek, together_ai, github, codestral, friendliai,
/// litellm_proxy, anyscale), and each provider's `_get_openai_compatible_provider_info` in
/// `litellm/llms/{groq,mistral,xai,fireworks_ai,perplexity,openrouter,moonshot,hosted_vllm,
/// lm_studio,llamafile,deepinfra,dashscope}/chat/transformation.py`; Ollama's default host from
/// `litellm/llms/ollama/` (`http://localhost:11434`), spoken to through Ollama's own
/// OpenAI-compatible API (`/v1`). Gemini on Google AI Studio (`gemini`) is listed here for its
/// host and variables, but spoken to in the Gemini format (the filter's `GeminiAiStudio`, at
/// `/v1beta/models/{model}`) with the key in `x-goog-api-key`, as LiteLLM does
/// (`litellm/llms/gemini/`).
const COMPATIBLE: &[(&str, Support)] = &[
    ("groq", compatible(Some("https://api.groq.com/openai/v1"), &["GROQ_API_BASE"], &["GROQ_API_KEY"])),
    ("mistral", compatible(Some("https://api.mistral.ai/v1"), &["MISTRAL_API_BASE"], &["MISTRAL_API_KEY"])),
    ("codestral", compatible(Some("https://codestral.mistral.ai/v1"), &["CODESTRAL_API_BASE"], &["CODESTRAL_API_KEY"])),
    (
        "openrouter",
        compatible(
            Some("https://openrouter.ai/api/v1"),
            &["OPENROUTER_API_BASE"],
            &["OPENROUTER_API_KEY", "OR_API_KEY"],
        ),
    ),
    (
        "together_ai",
        compatible(
            Some("https://api.together.xyz/v1"),
            &["TOGETHER_AI_API_BASE"],
            &["TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_TOKEN"],
        ),
    ),
    (
        "fireworks_ai",
        compatible(
            Some("https://api.fireworks.ai/inference/v1"),
            &["FIREWORKS_API_BASE", "FIREWORKS_AI_API_BASE"],
            &["FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN"],
        ),
    ),
    ("deepseek", compatible(Some("https://api.deepseek.com/beta"), &["DEEPSEEK_API_BASE"], &["DEEPSEEK_API_KEY"])),
    ("xai", compatible(Some("https://api.x.ai/v1"), &["XAI_API_BASE"], &["XAI_API_KEY"])),
    ("cerebras", compatible(Some("https://api.cerebras.ai/v1"), &["CEREBRAS_API_BASE"], &["CEREBRAS_API_KEY"])),
    (
        "perplexity",
        compatible(
            Some("https://api.perplexity.ai"),
            &["PERPLEXITY_API_BASE"],
            &["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"],
        ),
    ),
    (
        "nvidia_nim",
        compatible(Some("https://integrate.api.nvidia.com/v1"), &["NVIDIA_NIM_API_BASE"], &["NVIDIA_NIM_API_KEY"]),
    ),
    ("moonshot", compatible(Some("https://api.moonshot.ai/v1"), &["MOONSHOT_API_BASE"], &["MOONSHOT_API_KEY"])),
    ("sambanova", compatible(Some("https://api.sambanova.ai/v1"), &["SAMBANOVA_API_BASE"], &["SAMBANOVA_API_KEY"])),
    ("github", compatible(Some("https://models.inference.ai.azure.com"), &["GITHUB_API_BASE"], &["GITHUB_API_KEY"])),
    (
        "deepinfra",
        compatible(Some("https://api.deepinfra.com/v1/openai"), &["DEEPINFRA_API_BASE"], &["DEEPINFRA_API_KEY"]),
    ),
    (
        "friendliai",
        compatible(
            Some("https://api.friendli.ai/serverless/v1"),
            &["FRIENDLI_API_BASE"],
            &["FRIENDLIAI_API_KEY", "FRIENDLI_TOKEN"],
        ),
    ),
    (
        "dashscope",
        compatible(
            Some("https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
            &["DASHSCOPE_API_BASE"],
            &["DASHSCOPE_API_KEY"],
        ),
    ),
    ("llamafile", compatible(Some("http://127.0.0.1:8080/v1"), &["LLAMAFILE_API_BASE"], &["LLAMAFILE_API_KEY"])),
    (
        "gemini",
        compatible(
            Some("https://generativelanguage.googleapis.com"),
            &["GEMINI_API_BASE"],
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        ),
    ),
    ("hosted_vllm", compatible(None, &["HOSTED_VLLM_API_BASE"], &["HOSTED_VLLM_API_KEY"])),
    ("vllm", compatible(None, &["HOSTED_VLLM_API_BASE"], &["HOSTED_VLLM_API_KEY"])),
    ("openai_like", compatible(None, &[], &[])),
    ("custom_openai", compatible(None, &[], &[])),
    ("lm_studio", compatible(None, &["LM_STUDIO_API_BASE"], &["LM_STUDIO_API_KEY"])),
    ("litellm_proxy", compatible(None, &["LITELLM_PROXY_API_BASE"], &["LITELLM_PROXY_API_KEY"])),
    ("azure_ai", compatible(None, &["AZURE_AI_API_BASE"], &["AZURE_AI_API_KEY"])),
    (
        "ollama",
        Support::OpenAiCompatible(Compatible {
            default_base: Some("http://localhost:11434"),
            base_env: &["OLLAMA_API_BASE"],
            key_env: &["OLLAMA_API_KEY"],
            append_v1: true,
        }),
    ),
    (
        "ollama_chat",
        Support::OpenAiCompatible(Compatible {
            default_base: Some("http://localhost:11434"),
            base_env: &["OLLAMA_API_BASE"],
            key_env: &["OLLAMA_API_KEY"],
            append_v1: true,
        }),
    ),
];

/// Prefixes LiteLLM knows whose APIs this gateway does not speak, with what to write instead.
const REFUSED: &[(&str, &str)] = &[
    ("cohere", COHERE),
    ("cohere_chat", COHERE),
    ("sagemaker", "SageMaker endpoints speak their container's own API and need SigV4 for service 'sagemaker', which this gateway does not sign; put an OpenAI-compatible server (e.g. vLLM's) behind an endpoint and write openai/MODEL with its api_base"),
    ("sagemaker_chat", "SageMaker endpoints need SigV4 for service 'sagemaker', which this gateway does not sign; put an OpenAI-compatible server behind an endpoint and write openai/MODEL with its api_base"),
    ("huggingface", "Hugging Face's router has an OpenAI-compatible API: write openai/MODEL with api_base: https://router.huggingface.co/v1"),
    ("replicate", "Replicate's prediction API is not OpenAI-compatible; serve the model behind an OpenAI-compatible server and write openai/MODEL with its api_base"),
    ("cloudflare", "Workers AI's native run API is not translated; use its OpenAI-compatible API: openai/@cf/MODEL with api_base: https://api.cloudflare.com/client/v4/accounts/ACCOUNT_ID/ai/v1"),
    ("watsonx", "watsonx.ai needs IBM IAM tokens, which this gateway does not fetch; put an OpenAI-compatible proxy in front and write openai/MODEL with its api_base"),
    ("text-completion-openai", "this gateway serves chat completions only; use openai/MODEL with a chat model"),
    ("text-completion-codestral", "this gateway serves chat completions only; use codestral/MODEL"),
    ("anthropic_text", "Anthropic's legacy text API is not served; use anthropic/MODEL with a Messages model"),
    ("ai21", "use ai21's OpenAI-compatible API: openai/MODEL with api_base: https://api.ai21.com/studio/v1"),
    ("databricks", "Databricks serving endpoints are OpenAI-compatible: write openai/ENDPOINT with api_base: https://WORKSPACE.cloud.databricks.com/serving-endpoints"),
    ("vertex_ai_beta", "use vertex_ai/MODEL"),
    ("palm", "PaLM is retired; use gemini/MODEL or vertex_ai/gemini-MODEL"),
    ("voyage", "embedding providers are not served by this gateway (chat completions only)"),
    ("jina_ai", "embedding providers are not served by this gateway (chat completions only)"),
];

const COHERE: &str = "Cohere's chat API is not translated by this gateway; use Cohere's OpenAI-compatible API: write openai/MODEL with api_base: https://api.cohere.ai/compatibility/v1";

/// What the gateway does with `prefix` (LiteLLM's `custom_llm_provider`). None: a prefix
/// LiteLLM does not know either.
pub(crate) fn support(prefix: &str) -> Option<Support> {
    match prefix {
        "bedrock" | "vertex_ai" | "azure" | "anthropic" | "openai" => return Some(Support::Native),
        _ => {}
    }
    if let Some((_, s)) = COMPATIBLE.iter().find(|(p, _)| *p == prefix) {
        return Some(*s);
    }
    REFUSED.iter().find(|(p, _)| *p == prefix).map(|(_, why)| Support::Refused(why))
}

/// Every prefix the gateway speaks to, for messages.
/// The environment variables LiteLLM reads for a provider's API key when the config gives no
/// `api_key`, in its order (`litellm/main.py`: `AZURE_OPENAI_API_KEY`, `AZURE_API_KEY` for
/// azure; `OPENAI_API_KEY`; `ANTHROPIC_API_KEY`; each OpenAI-compatible provider's own).
/// Bedrock and Vertex AI sign or take tokens instead: none.
pub(crate) fn key_env(provider: &Provider) -> &'static [&'static str] {
    match provider {
        Provider::OpenAi => &["OPENAI_API_KEY"],
        Provider::Anthropic => &["ANTHROPIC_API_KEY"],
        Provider::Azure => &["AZURE_OPENAI_API_KEY", "AZURE_API_KEY"],
        Provider::OpenAiCompatible(prefix) => match support(prefix) {
            Some(Support::OpenAiCompatible(c)) => c.key_env,
            _ => &[],
        },
        Provider::Bedrock | Provider::VertexAi => &[],
    }
}

pub(crate) fn supported_prefixes() -> Vec<&'static str> {
    let mut all = vec!["openai", "azure", "anthropic", "bedrock", "vertex_ai"];
    all.extend(COMPATIBLE.iter().map(|(p, _)| *p));
    all
}

/// The first set variable of `vars`, with its value.
pub(crate) fn first_env(vars: &[&'static str]) -> Option<(&'static str, String)> {
    vars.iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()).map(|s| (*v, s)))
}

/// The provider LiteLLM infers for a model name without a prefix (`get_llm_provider`: its model
/// lists, by family), or None when it would refuse the name ("LLM Provider NOT provided").
///
/// LiteLLM matches exact names from its model cost map; families stand in for those lists here
/// (`claude-*` → anthropic, `gpt-*`/`o1*`/`o3*`/`o4*`/`chatgpt-*`/`ft:gpt-*`/`text-embedding-*`/
/// `dall-e-*`/`davinci`/`babbage` → openai, `gemini-*` → vertex_ai, `command*` → cohere), and
/// `*` → openai as in LiteLLM.
pub(crate) fn infer_bare(model: &str) -> Option<&'static str> {
    let m = model.to_ascii_lowercase();
    let openai = [
        "gpt-",
        "o1",
        "o3",
        "o4",
        "chatgpt-",
        "ft:gpt-",
        "text-embedding-",
        "dall-e-",
        "davinci",
        "babbage",
        "whisper-",
        "tts-",
    ];
    if m == "*" || openai.iter().any(|p| m.starts_with(p)) {
        Some("openai")
    } else if m.starts_with("claude-") {
        Some("anthropic")
    } else if m.starts_with("gemini-") {
        Some("vertex_ai")
    } else if m.starts_with("command") {
        Some("cohere")
    } else {
        None
    }
}

/// The provider enum for a supported prefix.
pub(crate) fn provider(prefix: &str) -> Provider {
    Provider::from_prefix(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compatible_default_is_an_http_url_and_no_prefix_is_listed_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for (p, s) in COMPATIBLE {
            assert!(seen.insert(*p), "{p} twice");
            if let Support::OpenAiCompatible(c) = s {
                if let Some(base) = c.default_base {
                    assert!(super::super::endpoint::parse_url(base).is_ok(), "{p}: {base}");
                }
            }
        }
        for (p, _) in REFUSED {
            assert!(seen.insert(*p), "{p} both supported and refused");
        }
    }

    #[test]
    fn prefixes_are_supported_refused_or_unknown() {
        assert_eq!(support("bedrock"), Some(Support::Native));
        assert!(
            matches!(support("groq"), Some(Support::OpenAiCompatible(c)) if c.default_base == Some("https://api.groq.com/openai/v1"))
        );
        assert!(matches!(support("hosted_vllm"), Some(Support::OpenAiCompatible(c)) if c.default_base.is_none()));
        assert!(matches!(support("cohere"), Some(Support::Refused(why)) if why.contains("openai/MODEL")));
        assert_eq!(support("mistralai"), None);
    }

    #[test]
    fn bare_names_are_inferred_by_family() {
        assert_eq!(infer_bare("gpt-4o"), Some("openai"));
        assert_eq!(infer_bare("o3-mini"), Some("openai"));
        assert_eq!(infer_bare("claude-3-5-sonnet-20241022"), Some("anthropic"));
        assert_eq!(infer_bare("gemini-1.5-pro"), Some("vertex_ai"));
        assert_eq!(infer_bare("command-r-plus"), Some("cohere"));
        assert_eq!(infer_bare("*"), Some("openai"));
        assert_eq!(infer_bare("llama3"), None);
    }
}
