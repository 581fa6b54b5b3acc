//! Render benchmarks: the guide bundle (fresh renderer, as one CLI run pays it, and a reused
//! one), and a batch of 1,000 clusters through one renderer. Whole-process timings of the
//! binary are taken by scripts/bench-cli.

use criterion::{Criterion, criterion_group, criterion_main};
use irsagen::context::{ClusterInputs, Context};
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use std::hint::black_box;

fn inputs(cluster: &str) -> ClusterInputs {
    ClusterInputs {
        cluster: Some(cluster.into()),
        region: Some("us-east-1".into()),
        account: Some("123456789012".into()),
        partition: None,
        oidc_issuer: Some("https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE".into()),
        tags: Default::default(),
        kubernetes_version: None,
    }
}

fn selection() -> Vec<(String, PresetOverrides)> {
    irsagen::preset::DEFAULT_PRESETS
        .iter()
        .map(|p| (p.to_string(), PresetOverrides::default()))
        .collect()
}

fn benches(c: &mut Criterion) {
    let sel = selection();
    let ctx = Context::new(&inputs("smallest-cluster")).unwrap();
    c.bench_function(
        "guide bundle, fresh renderer (presets, templates, schema compiled)",
        |b| {
            b.iter(|| {
                let r = Renderer::new(None, None).unwrap();
                black_box(r.render(&ctx, &sel).unwrap())
            })
        },
    );
    let renderer = Renderer::new(None, None).unwrap();
    c.bench_function("guide bundle, reused renderer", |b| {
        b.iter(|| black_box(renderer.render(&ctx, &sel).unwrap()))
    });
    let contexts: Vec<Context> = (0..1000)
        .map(|i| Context::new(&inputs(&format!("cluster-{i:04}"))).unwrap())
        .collect();
    let mut group = c.benchmark_group("batch");
    group.sample_size(10);
    group.bench_function("1,000 clusters x 3 presets, one renderer", |b| {
        b.iter(|| {
            for ctx in &contexts {
                black_box(renderer.render(ctx, &sel).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(render, benches);
criterion_main!(render);
