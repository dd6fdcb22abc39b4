use std::time::Duration;

use super::*;

const B: Bounds = Bounds { min: 1, max: 10, target: 100.0 };

/// (what, bounds, input, recent recommendations, expected to, expected why)
type Case = (&'static str, Bounds, Input, &'static [u32], u32, Why);

fn input(current: u32, ready: u32, measured: Option<f64>) -> Input {
    Input { current, ready, measured }
}

#[test]
fn the_rule_table() {
    let cases: &[Case] = &[
        ("at target: no change", B, input(2, 2, Some(100.0)), &[], 2, Why::Tolerance),
        ("9 % over: within the tolerance", B, input(2, 2, Some(109.0)), &[], 2, Why::Tolerance),
        ("9 % under: within the tolerance", B, input(4, 4, Some(91.0)), &[], 4, Why::Tolerance),
        ("11 % over: scales, rounding up", B, input(2, 2, Some(111.0)), &[], 3, Why::Ratio),
        ("2.5 × target on 2: ceil(5) = 5", B, input(2, 2, Some(250.0)), &[], 5, Why::Ratio),
        ("1.2 × on 3: ceil(3.6) = 4", B, input(3, 3, Some(120.0)), &[], 4, Why::Ratio),
        ("exactly 2 × on 3 is 6, not 7", B, input(3, 3, Some(200.0)), &[], 6, Why::Ratio),
        ("4.12 × on 1: ceil = 5 = the up limit of 1 (1 + 4)", B, input(1, 1, Some(412.0)), &[], 5, Why::Ratio),
        ("9 × on 1: limited to 1 + 4 = 5", B, input(1, 1, Some(900.0)), &[], 5, Why::UpLimit),
        ("3 × on 6: limited to 2 × 6 = 12", Bounds { max: 16, ..B }, input(6, 6, Some(300.0)), &[], 12, Why::UpLimit),
        ("past max: clamped", Bounds { max: 6, ..B }, input(4, 4, Some(1000.0)), &[], 6, Why::Bounds),
        ("idle: down to min", B, input(4, 4, Some(0.0)), &[], 1, Why::Bounds),
        ("half the target on 4: 2", B, input(4, 4, Some(50.0)), &[], 2, Why::Ratio),
        ("a larger recommendation in the window holds the scale-down", B, input(4, 4, Some(50.0)), &[4, 3], 4, Why::Window),
        ("the window's largest wins, not the newest", B, input(4, 4, Some(50.0)), &[3, 2], 3, Why::Window),
        ("the window never holds a scale-up back", B, input(2, 2, Some(200.0)), &[1, 1], 4, Why::Ratio),
        ("a window larger than current does not scale up", B, input(2, 2, Some(50.0)), &[6], 2, Why::Window),
        ("missing: hold", B, input(3, 3, None), &[], 3, Why::Missing),
        ("missing never scales up, whatever the window holds", B, input(1, 1, None), &[8], 1, Why::Missing),
        ("no ready replica: nothing to measure, hold", B, input(2, 0, Some(900.0)), &[], 2, Why::Missing),
        ("not-ready replicas are no capacity: 1 ready of 3 at 2 × holds 3", B, input(3, 1, Some(200.0)), &[], 3, Why::Starting),
        ("1 ready of 2 at 3 × wants 3", B, input(2, 1, Some(300.0)), &[], 3, Why::Ratio),
        ("under target with replicas starting: down to what the ready need", B, input(3, 1, Some(40.0)), &[], 1, Why::Ratio),
        ("below min: raised to min", Bounds { min: 2, ..B }, input(1, 1, Some(100.0)), &[], 2, Why::Bounds),
        ("above max: lowered to max", Bounds { max: 3, ..B }, input(5, 5, Some(100.0)), &[], 3, Why::Bounds),
        ("from 0 with min 6: to min past the up limit", Bounds { min: 6, ..B }, input(0, 0, None), &[], 6, Why::Bounds),
        ("a NaN is no measurement", B, input(2, 2, Some(f64::NAN)), &[], 2, Why::Missing),
    ];
    for (what, bounds, input, recent, to, why) in cases {
        let d = decide(*bounds, *input, recent);
        assert_eq!((d.to, d.why), (*to, *why), "{what}: {d:?}");
        assert_eq!(d.from, input.current, "{what}");
        assert!(d.to >= bounds.min && d.to <= bounds.max, "{what}: {d:?} out of bounds");
    }
}

#[test]
fn the_recommendation_is_what_the_window_remembers_clamped_but_not_limited() {
    let d = decide(B, input(1, 1, Some(900.0)), &[]);
    assert_eq!((d.to, d.recommended), (5, 9));
    let d = decide(Bounds { max: 4, ..B }, input(1, 1, Some(900.0)), &[]);
    assert_eq!((d.to, d.recommended), (4, 4));
}

#[test]
fn the_window_forgets_recommendations_older_than_itself() {
    let s = Duration::from_secs;
    let mut w = Window::default();
    w.push(s(0), 4);
    w.push(s(5), 3);
    w.push(s(10), 1);
    assert_eq!(w.recent(s(12), s(30)), vec![4, 3, 1]);
    assert_eq!(w.recent(s(31), s(30)), vec![3, 1]);
    assert_eq!(w.recent(s(39), s(30)), vec![1]);
    assert_eq!(w.largest(), Some(1));
    // A zero window remembers nothing: a scale-down happens at once.
    assert_eq!(w.recent(s(40), Duration::ZERO), Vec::<u32>::new());
}

#[test]
fn a_load_that_stops_scales_down_only_once_the_window_has_passed() {
    // Periods of 5 s, a window of 30 s: 4 replicas busy until t = 20 s, idle after.
    let (period, window) = (Duration::from_secs(5), Duration::from_secs(30));
    let mut w = Window::default();
    let mut current = 4;
    let mut down_at = None;
    for tick in 1..=20u32 {
        let now = period * tick;
        let measured = if now <= Duration::from_secs(20) { 100.0 } else { 0.0 };
        let recent = w.recent(now, window);
        let d = decide(B, input(current, current, Some(measured)), &recent);
        w.push(now, d.recommended);
        if d.to < current && down_at.is_none() {
            down_at = Some(now);
        }
        current = d.to;
    }
    assert_eq!(current, 1);
    assert_eq!(down_at, Some(Duration::from_secs(50)), "the last busy recommendation (20 s) leaves the window at 50 s");
}
