//! Bad input beyond registration, one request each: `PATCH /users/me` naming privileged fields, an
//! admin's `PATCH /users/{id}` with bad permissions or roles, bad role names and permissions, and
//! unknown fields named exactly on every route.

use serde_json::{Value, json};

use super::{good_registration, register, unknown, with};
use crate::support::TestApp;
use crate::support::http::{invalid, problem, send};

#[tokio::test]
async fn patch_me_refuses_privileged_fields() {
    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("plain", &["user"]).await;
    let token = app.token(&name, &pw).await;
    for (field, value) in [
        ("roles", json!(["admin"])),
        ("disabled", json!(false)),
        ("permissions", json!(["*"])),
        ("is_superuser", json!(true)),
        ("username", json!("renamed")),
    ] {
        let r = send(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&token)
                .json(&json!({ field: value })),
        )
        .await;
        unknown(&format!("PATCH /users/me {field}"), &r, field);
    }
    for (field, value) in [
        ("email", json!("nope")),
        ("full_name", json!("x".repeat(201))),
        ("password", json!("short")),
    ] {
        let r = send(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&token)
                .json(&json!({ field: value, "current_password": pw })),
        )
        .await;
        if field == "password" {
            problem(
                "PATCH /users/me password",
                &r,
                422,
                "weak_password",
                Some(field),
            );
        } else {
            invalid(&format!("PATCH /users/me {field}"), &r, field);
        }
    }
    let r = send(app.client.get(app.at("/users/me")).bearer_auth(&token)).await;
    assert_eq!(r.body["roles"], json!(["user"]));
    assert_eq!(r.body["permissions"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn admin_patch_with_bad_permissions_or_roles_is_422() {
    let app = TestApp::spawn().await;
    let (_, _, id) = app.user_with_roles("target", &["user"]).await;
    let admin = app.admin_token().await;
    let patch = |body: Value| {
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&body)
    };
    for bad in [
        json!(["items:"]),
        json!(["Items:read"]),
        json!(["*:read"]),
        json!([":read"]),
        json!(["items"]),
        json!(["items:read:x"]),
        json!([""]),
        json!(["items: read"]),
        json!(["items:read", "bad"]),
    ] {
        let r = send(patch(json!({ "permissions": bad }))).await;
        invalid(&format!("permissions {bad}"), &r, "permissions");
    }
    let r = send(patch(json!({"permissions": "items:read"}))).await;
    invalid("permissions not a list", &r, "permissions");
    for bad in [json!(["nope"]), json!(["user", "nope"]), json!(["Admin"])] {
        let r = send(patch(json!({ "roles": bad }))).await;
        invalid(&format!("roles {bad}"), &r, "roles");
    }
    for (field, value) in [("disabled", json!("yes")), ("email", json!("not-an-email"))] {
        let r = send(patch(json!({ field: value }))).await;
        invalid(&format!("admin PATCH {field}"), &r, field);
    }
    let r = send(patch(json!({"password": "short"}))).await;
    problem(
        "admin PATCH password",
        &r,
        422,
        "weak_password",
        Some("password"),
    );
    let r = send(patch(json!({"is_superuser": true}))).await;
    unknown("admin PATCH is_superuser", &r, "is_superuser");
    // A refused patch changed nothing, not even the valid parts of it.
    let r = send(patch(
        json!({"email": "changed@example.com", "roles": ["nope"]}),
    ))
    .await;
    invalid("mixed", &r, "roles");
    let r = send(
        app.client
            .get(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(r.body["roles"], json!(["user"]));
    assert_eq!(r.body["permissions"], json!([]));
    assert_eq!(r.body["email"], "target@example.com");
    app.stop().await;
}

#[tokio::test]
async fn bad_role_names_and_permissions_are_422() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let put = |name: &str, body: Value| {
        app.client
            .put(app.at(&format!("/roles/{name}")))
            .bearer_auth(&admin)
            .json(&body)
    };
    let long = "r".repeat(65);
    for name in [
        "Bad-Name",
        "9lives",
        "has%20space",
        "-dash",
        long.as_str(),
        "caf%C3%A9",
    ] {
        let r = send(put(name, json!({"permissions": ["users:read"]}))).await;
        invalid(&format!("role name {name:?}"), &r, "name");
    }
    for bad in [
        json!(["items:"]),
        json!(["Items:read"]),
        json!(["*:read"]),
        json!("users:read"),
    ] {
        let r = send(put("auditor", json!({ "permissions": bad }))).await;
        invalid(&format!("role permissions {bad}"), &r, "permissions");
    }
    let r = send(put("auditor", json!({}))).await;
    invalid("role without permissions", &r, "permissions");
    let r = send(put("auditor", json!({"permissions": [], "name": "x"}))).await;
    unknown("role with unknown field", &r, "name");
    let r = send(app.client.get(app.at("/roles")).bearer_auth(&admin)).await;
    assert_eq!(
        r.body.as_array().unwrap().len(),
        4,
        "nothing was created: {}",
        r.text
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_named_exactly() {
    let app = TestApp::spawn().await;
    let (name, pw, id) = app.user_with_roles("plain", &["user"]).await;
    let user = app.token(&name, &pw).await;
    let admin = app.admin_token().await;
    for field in ["roles", "permissions", "disabled", "is_superuser", "foo"] {
        let r = send(register(
            &app,
            &with(good_registration(), field, json!(true)),
        ))
        .await;
        invalid(&format!("register with {field}"), &r, field);
    }
    for field in ["roles", "disabled"] {
        let r = send(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&user)
                .json(&json!({ field: true })),
        )
        .await;
        invalid(&format!("PATCH /users/me {field}"), &r, field);
    }
    let r = send(
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"is_superuser": true})),
    )
    .await;
    invalid("admin PATCH is_superuser", &r, "is_superuser");
    let r = send(
        app.client
            .put(app.at("/roles/auditor"))
            .bearer_auth(&admin)
            .json(&json!({"permissions": [], "name": "x"})),
    )
    .await;
    invalid("PUT /roles with name", &r, "name");
    let r = send(
        app.client
            .post(app.at("/items"))
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "owner_id": id})),
    )
    .await;
    invalid("POST /items with owner_id", &r, "owner_id");
    app.stop().await;
}
