//! Checks across deployments: ids, zones, allowed regions.

use std::collections::BTreeMap;

use super::deployment::Meta;
use super::endpoint;
use super::router::RawRouter;
use super::yaml::Pos;
use super::{Ctx, Deployment};

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

/// Sets each deployment's zone and enforces `allowed_regions`.
pub(crate) fn zones_and_allowed_regions(ctx: &mut Ctx, list: &mut [(Deployment, Meta)], router: &RawRouter) {
    let residency = &router.residency_zones;
    for (d, m) in list.iter_mut() {
        d.zone = endpoint::zone_of(&d.region, residency);
        let region_pos = m.region_pos.unwrap_or(m.params_pos);
        if !residency.is_empty() && !d.region.is_empty() && d.zone.is_empty() {
            ctx.warn(region_pos, format!("deployment '{}' region '{}' is in no router_settings.residency_zones entry; requests with x-llm-residency never use it", d.id, d.region));
        }
        let Some((allowed, _)) = &router.allowed_regions else {
            continue;
        };
        let names: Vec<&str> = allowed.iter().map(|(r, _)| r.as_str()).collect();
        if d.region.is_empty() {
            ctx.error(region_pos, format!("deployment '{}' has no region, but router_settings.allowed_regions [{}] is set; give it one (metadata.region, region_name, aws_region_name or vertex_location)", d.id, names.join(", ")));
        } else if !names.contains(&d.region.as_str()) {
            ctx.error(region_pos, format!("deployment '{}' region '{}' is outside router_settings.allowed_regions [{}]; remove the deployment or allow its region", d.id, d.region, names.join(", ")));
        }
    }
}
