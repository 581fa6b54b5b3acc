//! AWS partitions and the regions irsagen knows, so ARNs get the right `arn:<partition>:` prefix.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// An AWS partition. Every ARN irsagen renders starts with `arn:<partition>:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Partition {
    /// Commercial regions.
    #[serde(rename = "aws")]
    Aws,
    /// China regions.
    #[serde(rename = "aws-cn")]
    AwsCn,
    /// AWS GovCloud (US).
    #[serde(rename = "aws-us-gov")]
    AwsUsGov,
}

/// Regions of each partition, as published when this list was written. A region that is not
/// here is still accepted when it is well formed and `--partition` is given explicitly.
const REGIONS: &[(&str, Partition)] = &[
    ("af-south-1", Partition::Aws),
    ("ap-east-1", Partition::Aws),
    ("ap-east-2", Partition::Aws),
    ("ap-northeast-1", Partition::Aws),
    ("ap-northeast-2", Partition::Aws),
    ("ap-northeast-3", Partition::Aws),
    ("ap-south-1", Partition::Aws),
    ("ap-south-2", Partition::Aws),
    ("ap-southeast-1", Partition::Aws),
    ("ap-southeast-2", Partition::Aws),
    ("ap-southeast-3", Partition::Aws),
    ("ap-southeast-4", Partition::Aws),
    ("ap-southeast-5", Partition::Aws),
    ("ap-southeast-6", Partition::Aws),
    ("ap-southeast-7", Partition::Aws),
    ("ca-central-1", Partition::Aws),
    ("ca-west-1", Partition::Aws),
    ("eu-central-1", Partition::Aws),
    ("eu-central-2", Partition::Aws),
    ("eu-north-1", Partition::Aws),
    ("eu-south-1", Partition::Aws),
    ("eu-south-2", Partition::Aws),
    ("eu-west-1", Partition::Aws),
    ("eu-west-2", Partition::Aws),
    ("eu-west-3", Partition::Aws),
    ("il-central-1", Partition::Aws),
    ("me-central-1", Partition::Aws),
    ("me-south-1", Partition::Aws),
    ("mx-central-1", Partition::Aws),
    ("sa-east-1", Partition::Aws),
    ("us-east-1", Partition::Aws),
    ("us-east-2", Partition::Aws),
    ("us-west-1", Partition::Aws),
    ("us-west-2", Partition::Aws),
    ("cn-north-1", Partition::AwsCn),
    ("cn-northwest-1", Partition::AwsCn),
    ("us-gov-east-1", Partition::AwsUsGov),
    ("us-gov-west-1", Partition::AwsUsGov),
];

impl Partition {
    /// The partition's name as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// Parses `aws`, `aws-cn` or `aws-us-gov`.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        match value {
            "aws" => Ok(Partition::Aws),
            "aws-cn" => Ok(Partition::AwsCn),
            "aws-us-gov" => Ok(Partition::AwsUsGov),
            _ => Err(Error::invalid(
                field,
                value,
                "must be one of `aws`, `aws-cn`, `aws-us-gov`",
            )),
        }
    }

    /// The partition a known region belongs to.
    pub fn of_known_region(region: &str) -> Option<Self> {
        REGIONS.iter().find(|(r, _)| *r == region).map(|(_, p)| *p)
    }

    /// The partition a well-formed region name implies by its prefix.
    fn of_region_prefix(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validates `region` and settles the partition: derived from a known region, or checked
/// against it when given explicitly.
pub fn resolve(region: &str, explicit: Option<Partition>) -> Result<Partition> {
    if let Some(known) = Partition::of_known_region(region) {
        return match explicit {
            Some(p) if p != known => Err(Error::invalid(
                "--partition",
                p.as_str(),
                format!("region `{region}` is in partition `{known}`"),
            )),
            _ => Ok(known),
        };
    }
    if !is_well_formed_region(region) {
        return Err(Error::invalid(
            "--region",
            region,
            "must be an AWS region name such as `us-east-1` (lowercase words and a number, joined by `-`)",
        ));
    }
    match explicit {
        Some(p) if p == Partition::of_region_prefix(region) => Ok(p),
        Some(p) => Err(Error::invalid(
            "--partition",
            p.as_str(),
            format!("region `{region}` cannot be in partition `{p}`"),
        )),
        None => Err(Error::invalid(
            "--region",
            region,
            "is not a region irsagen knows; check the spelling, or give --partition to use a new region",
        )),
    }
}

/// `xx-words-N`: two or more lowercase words and a trailing number.
fn is_well_formed_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_partition_from_region() {
        assert_eq!(resolve("us-east-1", None).unwrap(), Partition::Aws);
        assert_eq!(resolve("cn-north-1", None).unwrap(), Partition::AwsCn);
        assert_eq!(resolve("us-gov-west-1", None).unwrap(), Partition::AwsUsGov);
    }

    #[test]
    fn refuses_mismatch_and_unknown() {
        assert!(resolve("us-east-1", Some(Partition::AwsCn)).is_err());
        assert!(resolve("us-east-9", None).is_err());
        assert_eq!(resolve("us-east-9", Some(Partition::Aws)).unwrap(), Partition::Aws);
        assert!(resolve("US-EAST-1", None).is_err());
        assert!(resolve("mars", Some(Partition::Aws)).is_err());
    }
}
