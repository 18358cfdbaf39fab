//! Who may do what, the rules the matrix cannot show: changes reaching live tokens at once, item
//! ownership, and 404 versus 403 for a missing item.

use serde_json::{Value, json};

use super::{Cred, new_item};
use crate::support::TestApp;
use crate::support::http::{problem, problem_missing, send};

/// `PATCH /users/{id}` as admin.
async fn admin_patch_user(app: &TestApp, id: &str, body: Value) {
    let r = send(
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(app.admin_token().await)
            .json(&body),
    )
    .await;
    assert_eq!(r.status, 200, "patch user {id} with {body}: {}", r.text);
}

#[tokio::test]
async fn a_role_change_applies_to_existing_tokens_at_once() {
    let app = TestApp::spawn().await;
    let (name, pw, id) = app.user_with_roles("uma", &["user"]).await;
    let token = Cred::Bearer(app.token(&name, &pw).await);
    let post = || {
        token
            .apply(app.client.post(app.at("/items")))
            .json(&json!({"name": "x"}))
    };

    assert_eq!(send(post()).await.status, 201, "as user");
    admin_patch_user(&app, &id, json!({"roles": ["guest"]})).await;
    let r = send(post()).await;
    problem_missing(
        "same token, now a guest",
        &r,
        403,
        "missing_permission",
        "items:write",
    );
    let r = send(token.apply(app.client.get(app.at("/items")))).await;
    assert_eq!(r.status, 200, "a guest still reads: {}", r.text);

    admin_patch_user(&app, &id, json!({"roles": ["user"]})).await;
    assert_eq!(
        send(post()).await.status,
        201,
        "promoted back: the token writes again"
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_user_makes_their_token_401() {
    let app = TestApp::spawn().await;
    let (name, pw, id) = app.user_with_roles("uma", &["user"]).await;
    let token = app.token(&name, &pw).await;
    assert_eq!(app.get_bearer("/users/me", &token).await.status(), 200);

    let r = send(
        app.client
            .delete(app.at(&format!("/users/{id}")))
            .bearer_auth(app.admin_token().await),
    )
    .await;
    assert_eq!(r.status, 204, "delete: {}", r.text);

    let r = send(app.client.get(app.at("/users/me")).bearer_auth(&token)).await;
    problem("token of a deleted user", &r, 401, "invalid_token", None);
    assert!(
        r.challenges()
            .iter()
            .any(|c| c.contains(r#"error="invalid_token""#)),
        "{:?}",
        r.challenges()
    );
    app.stop().await;
}

#[tokio::test]
async fn moderators_may_change_anyones_items_other_users_only_their_own() {
    let app = TestApp::spawn().await;
    let bearer = async |name: &str, roles: &[&str]| {
        let (n, pw, _) = app.user_with_roles(name, roles).await;
        Cred::Bearer(app.token(&n, &pw).await)
    };
    let owner = bearer("uma", &["user"]).await;
    let other = bearer("otto", &["user"]).await;
    let moderator = bearer("mona", &["moderator"]).await;
    let put = |who: &Cred, id: &str| {
        who.apply(app.client.put(app.at(&format!("/items/{id}"))))
            .json(&json!({"name": "renamed", "description": "by someone"}))
    };
    let delete =
        |who: &Cred, id: &str| who.apply(app.client.delete(app.at(&format!("/items/{id}"))));

    let item = new_item(&app, &owner).await;
    let r = send(put(&other, &item)).await;
    problem_missing(
        "other user updates",
        &r,
        403,
        "missing_permission",
        "items:*",
    );
    let r = send(delete(&other, &item)).await;
    problem_missing(
        "other user deletes",
        &r,
        403,
        "missing_permission",
        "items:delete",
    );
    let r = send(owner.apply(app.client.get(app.at(&format!("/items/{item}"))))).await;
    assert_eq!(r.status, 200, "the refused changes left the item alone");
    assert_eq!(r.body["name"], "thing");

    let r = send(put(&moderator, &item)).await;
    assert_eq!(r.status, 200, "moderator updates: {}", r.text);
    assert_eq!(r.body["name"], "renamed");
    let r = send(delete(&moderator, &item)).await;
    assert_eq!(r.status, 204, "moderator deletes: {}", r.text);
    let r = send(delete(&moderator, &item)).await;
    problem("deleted twice", &r, 404, "not_found", None);

    let item = new_item(&app, &owner).await;
    assert_eq!(send(put(&owner, &item)).await.status, 200, "owner updates");
    assert_eq!(
        send(delete(&owner, &item)).await.status,
        204,
        "owner deletes"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_missing_item_is_404_only_for_callers_who_may_read_items() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let r = send(
        app.client
            .put(app.at("/roles/noperm"))
            .bearer_auth(&admin)
            .json(&json!({"permissions": []})),
    )
    .await;
    assert_eq!(r.status, 201, "create role noperm: {}", r.text);
    let (g, gpw, _) = app.user_with_roles("gina", &["guest"]).await;
    let (n, npw, _) = app.user_with_roles("nora", &["noperm"]).await;
    let guest = Cred::Bearer(app.token(&g, &gpw).await);
    let noperm = Cred::Bearer(app.token(&n, &npw).await);
    let missing = format!("/items/{}", uuid::Uuid::new_v4());
    let get = |who: &Cred| who.apply(app.client.get(app.at(&missing)));

    problem("guest", &send(get(&guest)).await, 404, "not_found", None);
    problem(
        "anonymous",
        &send(get(&Cred::Anonymous)).await,
        401,
        "unauthorized",
        None,
    );
    let r = send(get(&noperm)).await;
    problem_missing(
        "no items:read (bearer)",
        &r,
        403,
        "missing_permission",
        "items:read",
    );
    let basic = Cred::Basic(n, npw);
    let r = send(get(&basic)).await;
    problem_missing(
        "no items:read (basic)",
        &r,
        403,
        "missing_permission",
        "items:read",
    );
    app.stop().await;
}
