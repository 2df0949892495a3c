use llm_router::config;
#[test]
fn fuzz() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seeds = vec![];
    for e in std::fs::read_dir(&dir).unwrap() { seeds.push(std::fs::read_to_string(e.unwrap().path()).unwrap()); }
    let alphabet: Vec<char> = " :-\n\t[]{}\"'&*!|>#%@`,?aZ0.~<".chars().collect();
    let mut x: u64 = 0x1234567;
    let mut rnd = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
    for i in 0..100000 {
        let s = &seeds[i % seeds.len()];
        let mut chars: Vec<char> = s.chars().collect();
        for _ in 0..(1 + rnd() % 4) {
            let pos = (rnd() as usize) % chars.len();
            match rnd() % 3 {
                0 => { chars[pos] = alphabet[(rnd() as usize) % alphabet.len()]; }
                1 => { chars.remove(pos); }
                _ => { chars.insert(pos, alphabet[(rnd() as usize) % alphabet.len()]); }
            }
        }
        let t: String = chars.into_iter().collect();
        let r = std::panic::catch_unwind(|| { let _ = config::load_str(&t, "f.yaml").map(|l| config::summary(&l.config)); });
        if r.is_err() { println!("PANIC on:\n{t}\n======"); panic!("panic"); }
    }
}
