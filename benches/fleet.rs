//! Fleet benchmark: 1,000 clusters x 3 presets rendered in parallel, validated as a fleet and
//! written into a fresh folder (`irsagen::fleet`, what `render --all` does), and the same
//! folder rewritten when it is up to date. Whole-process time and peak memory of the binary,
//! next to one process per cluster, are taken by scripts/bench-fleet.

use criterion::{Criterion, criterion_group, criterion_main};
use irsagen::context::ClusterInputs;
use irsagen::emit::WriteOptions;
use irsagen::fleet::{self, Member};
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use std::hint::black_box;

fn member(i: usize) -> Member {
    let name = format!("cluster-{i:04}");
    Member {
        inputs: ClusterInputs {
            cluster: Some(name.clone()),
            region: Some("us-east-1".into()),
            account: Some("123456789012".into()),
            partition: None,
            oidc_issuer: Some(format!("https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE{i:027}")),
            tags: Default::default(),
            kubernetes_version: None,
        },
        selection: irsagen::preset::DEFAULT_PRESETS
            .iter()
            .map(|p| (p.to_string(), PresetOverrides::default()))
            .collect(),
        name,
    }
}

fn benches(c: &mut Criterion) {
    let members: Vec<Member> = (0..1000).map(member).collect();
    let renderer = Renderer::new(None, None).unwrap();
    let mut group = c.benchmark_group("fleet");
    group.sample_size(10);
    group.bench_function("1,000 clusters x 3 presets: render + validate (parallel)", |b| {
        b.iter(|| black_box(fleet::render(&renderer, &members).unwrap()))
    });
    group.bench_function(
        "1,000 clusters x 3 presets: render + validate + write a fresh folder",
        |b| {
            b.iter_with_setup(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let bundles = fleet::render(&renderer, &members).unwrap();
                    black_box(fleet::write(&bundles, dir.path(), &WriteOptions::default()).unwrap());
                    dir
                },
            )
        },
    );
    let bundles = fleet::render(&renderer, &members).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fleet::write(&bundles, dir.path(), &WriteOptions::default()).unwrap();
    group.bench_function("1,000 clusters x 3 presets: rewrite an up-to-date folder", |b| {
        b.iter(|| black_box(fleet::write(&bundles, dir.path(), &WriteOptions::default()).unwrap()))
    });
    group.finish();
}

criterion_group!(fleet_benches, benches);
criterion_main!(fleet_benches);
