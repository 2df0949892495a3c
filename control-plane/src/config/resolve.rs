//! Checks across deployments: ids, zones, allowed regions.

use std::collections::BTreeMap;

use super::deployment::Meta;
use super::endpoint;
use super::router::RawRouter;
use super::yaml::Pos;
use super::{Ctx, Deployment, Reach};

/// Keeps `[A-Za-z0-9_.-]`, replaces anything else with `-`.
pub(crate) fn sanitize_id(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' }).collect()
}

/// `model_info.id` when given (must be unique), else `{model_name}-{region}` (or
/// `{model_name}-{index}` without a region), with `-2`, `-3`, ... for later duplicates.
pub(crate) fn assign_ids(ctx: &mut Ctx, list: &mut [(Deployment, Meta)]) {
    let mut taken: BTreeMap<String, (usize, Pos)> = BTreeMap::new();
    for (d, m) in list.iter_mut() {
        let Some(pos) = m.explicit_id else { continue };
        let clean = sanitize_id(&d.id);
        if clean.is_empty() {
            ctx.error(pos, format!("model_list[{}]: model_info.id is empty; give an id or remove it", m.index));
            continue;
        }
        if clean != d.id {
            ctx.warn(pos, format!("model_list[{}]: model_info.id '{}' used as '{clean}' (ids may only hold letters, digits, '_', '.' and '-')", m.index, d.id));
        }
        if let Some((other, opos)) = taken.get(&clean) {
            ctx.error(
                pos,
                format!(
                    "model_info.id '{clean}' is also the id of model_list[{other}] (line {}); ids must be unique",
                    opos.line
                ),
            );
        } else {
            taken.insert(clean.clone(), (m.index, pos));
        }
        d.id = clean;
    }
    for (d, m) in list.iter_mut() {
        if m.explicit_id.is_some() {
            continue;
        }
        let base = if d.region.is_empty() {
            sanitize_id(&format!("{}-{}", d.model_name, m.index))
        } else {
            sanitize_id(&format!("{}-{}", d.model_name, d.region))
        };
        let mut id = base.clone();
        let mut n = 2;
        while taken.contains_key(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        taken.insert(id.clone(), (m.index, m.entry_pos));
        d.id = id;
    }
}

/// Sets each deployment's zone and enforces `allowed_regions`, both by where its requests
/// go ([`Reach`]); the declared region counts only where the endpoint names none.
pub(crate) fn zones_and_allowed_regions(ctx: &mut Ctx, list: &mut [(Deployment, Meta)], router: &RawRouter) {
    let allowed: Option<Vec<&str>> =
        router.allowed_regions.as_ref().map(|(list, _)| list.iter().map(|(r, _)| r.as_str()).collect());
    let mut no_region: Vec<(&str, Pos)> = Vec::new();
    for (d, m) in list.iter_mut() {
        d.zone = zone(ctx, d, m, &router.residency_zones);
        if let Some(allowed) = &allowed {
            check_allowed(ctx, d, m, allowed);
        } else if d.region.is_empty() && d.reach == Reach::Unknown {
            if router.residency_zones.is_empty() {
                no_region.push((&d.id, m.params_pos));
            } else {
                ctx.error(m.params_pos, format!("deployment '{}' has no region, but router_settings.residency_zones is set; give it one (metadata.region, region_name, aws_region_name or vertex_location)", d.id));
            }
        }
    }
    // Without residency, a missing region only means x-llm-region cannot pick the deployment:
    // one line for the file. A region is never guessed from a model name.
    if let Some((_, pos)) = no_region.first() {
        let shown: Vec<&str> = no_region.iter().take(5).map(|(id, _)| *id).collect();
        let more = if no_region.len() > 5 { format!(" and {} more", no_region.len() - 5) } else { String::new() };
        let n = no_region.len();
        let (them, have) = if n == 1 { ("it", "has") } else { ("them", "have") };
        ctx.warn(*pos, format!("{n} deployment{} {have} no region ({}{more}): x-llm-region and residency cannot select {them}; where that matters, set litellm_params.metadata.region (or region_name, aws_region_name, vertex_location)", if n == 1 { "" } else { "s" }, shown.join(", ")));
    }
}

/// The deployment's zone; warnings say why it has none when that is surprising, and a
/// profile that may leave the zone of its region is an error.
fn zone(ctx: &mut Ctx, d: &Deployment, m: &Meta, residency: &BTreeMap<String, Vec<String>>) -> String {
    let (source, regions) = match &d.reach {
        Reach::Unknown => return zone_of_region(ctx, d, &d.region, m.region_pos.unwrap_or(m.params_pos), residency),
        Reach::Region(r) => return zone_of_region(ctx, d, r, m.reach_pos, residency),
        Reach::Profile { source, regions: Some(regions), .. } => (source.as_deref().unwrap_or_default(), regions),
        Reach::Global | Reach::Profile { regions: None, .. } => {
            ctx.warn(m.reach_pos, format!("deployment '{}' calls {}; it belongs to no residency zone, so requests with x-llm-residency never use it", d.id, anywhere(d, m)));
            return String::new();
        }
    };
    if residency.is_empty() {
        if let Some(zone) = endpoint::common_prefix_zone(regions) {
            return zone.to_string();
        }
        ctx.warn(m.reach_pos, format!("deployment '{}' calls {}, which AWS may route to {}: regions of more than one zone; it belongs to no residency zone, so requests with x-llm-residency never use it", d.id, m.reach_from, regions.join(", ")));
        return String::new();
    }
    let zone = endpoint::zone_of(source, residency);
    if zone.is_empty() {
        ctx.warn(m.reach_pos, format!("deployment '{}' calls {} from region '{source}', which is in no router_settings.residency_zones entry; requests with x-llm-residency never use it", d.id, m.reach_from));
        return zone;
    }
    let outside: Vec<&str> = regions.iter().filter(|r| !residency[&zone].contains(r)).map(String::as_str).collect();
    if outside.is_empty() {
        return zone;
    }
    ctx.error(m.reach_pos, format!("deployment '{}' calls {} from '{source}' (zone '{zone}'), but AWS may route it to {}, which router_settings.residency_zones.{zone} does not list; list them in the zone, or call the model in one region (without the profile prefix)", d.id, m.reach_from, outside.join(", ")));
    String::new()
}

/// How messages name an endpoint that may be served in any region.
fn anywhere(d: &Deployment, m: &Meta) -> String {
    match &d.reach {
        Reach::Profile { geography, .. } if geography != "global" => format!(
            "{}, whose destination regions are not known (the '{geography}.' geography is in no AWS list this gateway has); treated as served in any region",
            m.reach_from
        ),
        _ => format!("{}, which may be served in any region", m.reach_from),
    }
}

/// Zone of one region; a warning when residency zones are given and none lists it.
fn zone_of_region(
    ctx: &mut Ctx,
    d: &Deployment,
    region: &str,
    pos: Pos,
    residency: &BTreeMap<String, Vec<String>>,
) -> String {
    let zone = endpoint::zone_of(region, residency);
    if !residency.is_empty() && !region.is_empty() && zone.is_empty() {
        let label_listed = region != d.region && !endpoint::zone_of(&d.region, residency).is_empty();
        let hint = if label_listed {
            format!(" (its label '{}' is listed, but requests go to '{region}': list '{region}')", d.region)
        } else {
            String::new()
        };
        ctx.warn(pos, format!("deployment '{}' region '{region}' is in no router_settings.residency_zones entry; requests with x-llm-residency never use it{hint}", d.id));
    }
    zone
}

/// `allowed_regions` holds every region the deployment's requests may be processed in.
fn check_allowed(ctx: &mut Ctx, d: &Deployment, m: &Meta, allowed: &[&str]) {
    let names = allowed.join(", ");
    let region_pos = m.region_pos.unwrap_or(m.params_pos);
    match &d.reach {
        Reach::Unknown if d.region.is_empty() => {
            ctx.error(region_pos, format!("deployment '{}' has no region, but router_settings.allowed_regions [{names}] is set; give it one (metadata.region, region_name, aws_region_name or vertex_location)", d.id));
        }
        Reach::Unknown => {
            if !allowed.contains(&d.region.as_str()) {
                ctx.error(region_pos, format!("deployment '{}' region '{}' is outside router_settings.allowed_regions [{names}]; remove the deployment or allow its region", d.id, d.region));
            }
        }
        Reach::Region(r) => {
            if !allowed.contains(&r.as_str()) {
                ctx.error(m.reach_pos, format!("deployment '{}' region '{r}' is outside router_settings.allowed_regions [{names}]; remove the deployment or allow its region", d.id));
            }
        }
        Reach::Profile { regions: Some(regions), .. } => {
            let outside: Vec<&str> = regions.iter().map(String::as_str).filter(|r| !allowed.contains(r)).collect();
            if !outside.is_empty() {
                ctx.error(m.reach_pos, format!("deployment '{}' calls {}, which AWS may route to {}, outside router_settings.allowed_regions [{names}]; allow them, or call the model in one region (without the profile prefix)", d.id, m.reach_from, outside.join(", ")));
            }
        }
        Reach::Global | Reach::Profile { regions: None, .. } => {
            ctx.error(m.reach_pos, format!("deployment '{}' calls {}, so it cannot keep to router_settings.allowed_regions [{names}]; call a regional endpoint", d.id, anywhere(d, m)));
        }
    }
}
