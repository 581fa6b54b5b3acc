//! Reads of EKS: the association of each desired ServiceAccount (ListPodIdentityAssociations
//! filtered by namespace and ServiceAccount, every page, then DescribePodIdentityAssociation for
//! the role and tags the list leaves out) and the agent addon (DescribeAddon). Only "it does not
//! exist" reads as absent; every other failure (access denied, throttling, network) is an error,
//! so a missing permission never looks like a missing association and leads to a create.

use super::{AGENT_ADDON, DesiredAssociation, LiveAddon, LiveAssociation, PodIdentityState, clusters};
use crate::aws::client::{Clients, api_error, is_not_found};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// Everything the plan and verify need: the agent addon of each of `agent_clusters`, then
/// each association. One call at a time, in that order: a bundle has a handful of
/// associations, and a fixed order keeps the call log (and the recorded-response tests, which
/// answer in order) deterministic.
pub(crate) async fn state(
    c: &Clients,
    desired: &[DesiredAssociation],
    agent_clusters: &[String],
) -> Result<PodIdentityState> {
    let mut state = PodIdentityState::default();
    for cluster in clusters(agent_clusters) {
        state.addons.insert(cluster.to_string(), addon(c, cluster).await?);
    }
    for d in desired {
        state.associations.insert(d.key(), association(c, d).await?);
    }
    Ok(state)
}

fn tag_map(tags: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn cluster_not_found(c: &Clients, action: &str, cluster: &str) -> Error {
    Error::Aws(format!(
        "EKS cluster `{cluster}` was not found in region {} ({action}); check --cluster and --region",
        c.region
    ))
}

/// The association of `d`'s ServiceAccount, or `None`. EKS keeps at most one per ServiceAccount;
/// more than one is an error rather than a guess at which one counts.
pub(crate) async fn association(c: &Clients, d: &DesiredAssociation) -> Result<Option<LiveAssociation>> {
    const LIST: &str = "eks:ListPodIdentityAssociations";
    let target = d.key();
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = match c
            .eks
            .list_pod_identity_associations()
            .cluster_name(&d.cluster)
            .namespace(&d.namespace)
            .service_account(&d.service_account)
            .set_next_token(next.clone())
            .send()
            .await
        {
            Err(e) if is_not_found(&e) => return Err(cluster_not_found(c, LIST, &d.cluster)),
            Err(e) => return Err(api_error(LIST, &target, e)),
            Ok(o) => o,
        };
        // The filter is the server's; checking again costs nothing and keeps a loose match
        // from ever being taken for this ServiceAccount's association.
        ids.extend(
            out.associations()
                .iter()
                .filter(|a| a.namespace() == Some(d.namespace.as_str()))
                .filter(|a| a.service_account() == Some(d.service_account.as_str()))
                .filter_map(|a| a.association_id().map(str::to_string)),
        );
        match out.next_token {
            // A token equal to the one sent would loop forever: treat it as the end.
            Some(t) if !t.is_empty() && Some(&t) != next.as_ref() => next = Some(t),
            _ => break,
        }
    }
    match ids.as_slice() {
        [] => Ok(None),
        [id] => describe(c, &d.cluster, id, &target).await,
        many => Err(Error::Aws(format!(
            "EKS returned {} Pod Identity associations for {} in cluster {} ({}), where it keeps at most one per \
             ServiceAccount; nothing was changed. Inspect them with `aws eks list-pod-identity-associations --cluster-name {} \
             --namespace {} --service-account {}`",
            many.len(),
            format_args!("{}/{}", d.namespace, d.service_account),
            d.cluster,
            many.join(", "),
            d.cluster,
            d.namespace,
            d.service_account
        ))),
    }
}

/// DescribePodIdentityAssociation: the role and tags. Gone since the list reads as absent.
async fn describe(c: &Clients, cluster: &str, id: &str, target: &str) -> Result<Option<LiveAssociation>> {
    const DESCRIBE: &str = "eks:DescribePodIdentityAssociation";
    let out = match c
        .eks
        .describe_pod_identity_association()
        .cluster_name(cluster)
        .association_id(id)
        .send()
        .await
    {
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error(DESCRIBE, &format!("{target} ({id})"), e)),
        Ok(o) => o,
    };
    let Some(a) = out.association else {
        return Err(Error::Aws(format!("{DESCRIBE} {id} returned no association")));
    };
    Ok(Some(LiveAssociation {
        id: a.association_id().unwrap_or(id).to_string(),
        arn: a.association_arn().unwrap_or_default().to_string(),
        role_arn: a.role_arn().unwrap_or_default().to_string(),
        tags: tag_map(a.tags()),
        owner_arn: a.owner_arn().filter(|s| !s.is_empty()).map(str::to_string),
        target_role_arn: a.target_role_arn().filter(|s| !s.is_empty()).map(str::to_string),
    }))
}

/// DescribeAddon of the agent: `None` on ResourceNotFoundException only.
pub(crate) async fn addon(c: &Clients, cluster: &str) -> Result<Option<LiveAddon>> {
    let out = match c
        .eks
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(AGENT_ADDON)
        .send()
        .await
    {
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error("eks:DescribeAddon", &format!("{cluster}/{AGENT_ADDON}"), e)),
        Ok(o) => o,
    };
    let Some(a) = out.addon else {
        return Err(Error::Aws(format!(
            "eks:DescribeAddon {cluster}/{AGENT_ADDON} returned no addon"
        )));
    };
    let issues = a
        .health()
        .map(|h| {
            h.issues()
                .iter()
                .map(|i| {
                    let code = i.code().map_or("Unknown", |c| c.as_str());
                    format!("{code}: {}", i.message().unwrap_or(""))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(LiveAddon {
        status: a.status().map_or("UNKNOWN", |s| s.as_str()).to_string(),
        version: a.addon_version().map(str::to_string),
        issues,
    }))
}
