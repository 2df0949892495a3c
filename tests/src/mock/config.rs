//! What one mock deployment is: the provider API it speaks ([`Provider`]), its region and
//! the credentials it accepts ([`MockConfig`], the `mock-region` CLI flags). One definition
//! shared by the CLI, the harness ([`crate::MockRegion`]) and the in-process server.

/// Static configuration of one mock deployment (the CLI flags).
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Region reported in responses, `x-mock-region` and stats.
    pub region: String,
    /// Deployment name (`x-mock-name`); defaults to the region.
    pub name: String,
    /// When set, chat/completion/embedding requests for any other model get 400 `model_not_found`.
    pub expect_model: Option<String>,
    /// Default number of streamed content chunks.
    pub chunks: u32,
    /// Default delay between streamed chunks.
    pub chunk_delay_ms: u64,
    /// The provider API this deployment speaks.
    pub provider: Provider,
    /// OpenAI (`Authorization: Bearer`), Azure (`api-key`), Anthropic (`x-api-key`): the key
    /// required. `None`: OpenAI requires none; Azure and Anthropic require the header with
    /// any value.
    pub api_key: Option<String>,
    /// Bedrock: the one identity whose signatures verify (`None`: every request is refused
    /// as an unknown client).
    pub aws: Option<AwsCredentials>,
    /// Azure: the one deployment that exists (`None`: any name).
    pub azure_deployment: Option<String>,
    /// Vertex: bearer tokens accepted forever (more, with expiries, via `POST /_mock/tokens`).
    /// None at all: any bearer token is accepted (presence only).
    pub bearer_tokens: Vec<String>,
    /// Vertex: the one project that exists (`None`: any).
    pub vertex_project: Option<String>,
    /// Benchmarks only: Bedrock signatures are not recomputed, so a benchmark measures the
    /// gateway rather than the mock's own SigV4 verification. Tests never set it.
    pub skip_signature_check: bool,
}

impl MockConfig {
    pub fn new(region: &str) -> Self {
        MockConfig {
            region: region.to_string(),
            name: region.to_string(),
            expect_model: None,
            chunks: 5,
            chunk_delay_ms: 0,
            provider: Provider::OpenAi,
            api_key: None,
            aws: None,
            azure_deployment: None,
            bearer_tokens: Vec::new(),
            vertex_project: None,
            skip_signature_check: false,
        }
    }

    /// Same, speaking `provider`.
    pub fn with_provider(region: &str, provider: Provider) -> Self {
        MockConfig { provider, ..MockConfig::new(region) }
    }
}

/// The API a mock deployment speaks (`--provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// OpenAI-compatible (`/v1/chat/completions`, ...); `Authorization: Bearer` when a key is set.
    #[default]
    OpenAi,
    /// Azure OpenAI (`/openai/deployments/{d}/chat/completions?api-version=`, `api-key`).
    Azure,
    /// Bedrock Runtime Converse / ConverseStream, SigV4.
    Bedrock,
    /// Anthropic Messages (`/v1/messages`, `x-api-key`, `anthropic-version`).
    Anthropic,
    /// Vertex AI: Claude (`:rawPredict`/`:streamRawPredict`) and Gemini
    /// (`:generateContent`/`:streamGenerateContent`), OAuth2 bearer tokens.
    Vertex,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Azure => "azure",
            Provider::Bedrock => "bedrock",
            Provider::Anthropic => "anthropic",
            Provider::Vertex => "vertex",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Some(match s {
            "openai" => Provider::OpenAi,
            "azure" => Provider::Azure,
            "bedrock" => Provider::Bedrock,
            "anthropic" => Provider::Anthropic,
            "vertex" | "vertex_ai" => Provider::Vertex,
            _ => return None,
        })
    }
}

impl std::str::FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::parse(s).ok_or_else(|| format!("unknown provider '{s}' (openai, azure, bedrock, anthropic, vertex)"))
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AWS credentials a Bedrock mock accepts (one identity, like one IAM user or role session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Required (as `x-amz-security-token`) when set; rejected when sent but not set.
    pub session_token: Option<String>,
}
