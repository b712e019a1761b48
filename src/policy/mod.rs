//! TEMPORARY stub with the agreed API; replaced by the real policy engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}
impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}
impl Stage {
    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "RequestReceived" => Stage::RequestReceived,
            "ResponseStarted" => Stage::ResponseStarted,
            "ResponseComplete" => Stage::ResponseComplete,
            "Panic" => Stage::Panic,
            _ => return None,
        })
    }
}
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageSet(u8);
impl StageSet {
    pub fn contains(self, s: Stage) -> bool {
        self.0 & (1 << s as u8) != 0
    }
}
pub struct Attributes<'a> {
    pub username: &'a str,
    pub groups: &'a [&'a str],
    pub verb: &'a str,
    pub resource: Option<ResourceAttributes<'a>>,
    pub path: &'a str,
}
pub struct ResourceAttributes<'a> {
    pub api_group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: StageSet,
    pub omit_managed_fields: bool,
    pub rule: Option<usize>,
}
#[derive(Clone, Copy, Debug, Default)]
pub struct Extensions {
    pub wildcards: bool,
}
pub struct Policy;
pub struct PolicyWarning;
impl std::fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("w")
    }
}
pub struct PolicyError;
impl PolicyError {
    pub fn line(&self) -> Option<usize> {
        None
    }
    pub fn message(&self) -> &str {
        ""
    }
}
impl Policy {
    pub fn from_yaml(_: &str, _: &str, _: Extensions) -> Result<(Policy, Vec<PolicyWarning>), PolicyError> {
        Ok((Policy, vec![]))
    }
    pub fn evaluate(&self, a: &Attributes) -> Decision {
        Decision {
            level: if a.verb == "watch" { Level::None } else { Level::Metadata },
            omit_stages: StageSet(1),
            omit_managed_fields: true,
            rule: Some(0),
        }
    }
    pub fn rules_len(&self) -> usize {
        1
    }
    pub fn rule_level(&self, _: usize) -> Level {
        Level::Metadata
    }
    pub fn describe_rule(&self, _: usize) -> String {
        "stub".into()
    }
    pub fn default_policy() -> Policy {
        Policy
    }
}
