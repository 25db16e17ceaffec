//! Real applications in a virtualenv: Flask and Django, run with
//! `--python-home` pointing at it, in daemon mode (`apps`) and embedded
//! mode (`apps_embedded`, see `crate::mode_args`).

use crate::{Server, TempDir, agent, fixtures, get, venv};

fn multipart(boundary: &str, field: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

#[test]
fn flask_app_in_a_virtualenv() {
    let Some(venv) = venv() else { return };
    let statics = TempDir::new("flask-static");
    std::fs::write(statics.0.join("app.css"), "body{}\n").unwrap();
    let s = Server::express(
        "flask",
        &fixtures().join("flask_app.wsgi"),
        &[
            crate::mode_args(module_path!()),
            &[
                "--python-home",
                venv.to_str().unwrap(),
                "--url-alias",
                "/static",
                statics.0.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    // The interpreter is the virtualenv's, whatever libpython the loader
    // picked.
    let (st, body) = get(&s.url("/sys"));
    assert_eq!(st, 200, "{body}\n{}", s.log());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let venv = venv.canonicalize().unwrap();
    assert_eq!(
        std::path::Path::new(v["prefix"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        venv
    );
    assert!(
        v["executable"]
            .as_str()
            .unwrap()
            .starts_with(venv.to_str().unwrap())
            || std::path::Path::new(v["executable"].as_str().unwrap()).starts_with(&venv),
        "{v}"
    );
    assert!(
        v["flask"].as_str().unwrap().contains(".venv")
            || v["flask"]
                .as_str()
                .unwrap()
                .starts_with(venv.to_str().unwrap()),
        "{v}"
    );
    assert!(
        v["path"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("site-packages"))
    );

    // Templates.
    let (st, body) = get(&s.url("/hello/Quill"));
    assert_eq!(st, 200);
    assert!(body.contains("<h1>Hello, Quill!</h1>"), "{body}");
    // Form POST.
    let mut r = agent()
        .post(&s.url("/form"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(&b"name=flask+form"[..])
        .unwrap();
    assert_eq!(r.body_mut().read_to_string().unwrap(), "posted flask form");
    // Multipart upload.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut r = agent()
        .post(&s.url("/upload"))
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .send(&multipart("XyZ", "file", "data.bin", &data)[..])
        .unwrap();
    assert_eq!(
        r.body_mut().read_to_string().unwrap(),
        format!("data.bin {}", data.len())
    );
    // Streamed response.
    let (st, body) = get(&s.url("/stream"));
    assert_eq!(st, 200);
    assert_eq!(body, "0\n1\n2\n3\n4\n");
    // Static files via --url-alias.
    assert_eq!(get(&s.url("/static/app.css")), (200, "body{}\n".into()));
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn django_app_in_a_virtualenv() {
    let Some(venv) = venv() else { return };
    let statics = TempDir::new("django-static");
    std::fs::write(statics.0.join("site.js"), "1;\n").unwrap();
    let s = Server::express(
        "django",
        &fixtures().join("django_app.wsgi"),
        &[
            crate::mode_args(module_path!()),
            &[
                "--python-home",
                venv.to_str().unwrap(),
                "--url-alias",
                "/static",
                statics.0.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    // Template with a CSRF token and its cookie.
    let r = agent().get(&s.url("/form/")).call().unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("csrftoken="))
        .and_then(|c| c.split(';').next())
        .expect("csrftoken cookie")
        .to_string();
    let page = r.into_body().read_to_string().unwrap();
    assert!(page.contains("<title>Django on Quill</title>"), "{page}");
    let token = page
        .split("name=\"csrfmiddlewaretoken\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("csrf token in the form")
        .to_string();
    // POST with the token: accepted; without: 403.
    let mut r = agent()
        .post(&s.url("/form/"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("csrfmiddlewaretoken={token}&name=django").as_bytes())
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body_mut().read_to_string().unwrap(), "hello django");
    let r = agent()
        .post(&s.url("/form/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(&b"name=forged"[..])
        .unwrap();
    assert_eq!(r.status(), 403);
    // Multipart upload (the CSRF token in the form).
    let data = vec![42u8; 200_000];
    let mut body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{token}\r\n"
    )
    .into_bytes();
    body.extend(multipart("B", "file", "up.bin", &data));
    let mut r = agent()
        .post(&s.url("/upload/"))
        .header("Cookie", &cookie)
        .header("Content-Type", "multipart/form-data; boundary=B")
        .send(&body[..])
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body_mut().read_to_string().unwrap(), "up.bin 200000");
    // Streamed response.
    assert_eq!(get(&s.url("/stream/")), (200, "a\nb\nc\n".into()));
    // Static files.
    assert_eq!(get(&s.url("/static/site.js")), (200, "1;\n".into()));
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn the_built_in_demo_app_serves_without_a_script() {
    // The README's first command: `quill express` with nothing else.
    let s = Server::express_with("demo", None, crate::mode_args(module_path!()));
    let (st, body) = get(&s.url("/"));
    assert_eq!(st, 200);
    assert!(body.contains("Quill"), "{body}");
    assert_eq!(s.stop(), Some(0));
}
