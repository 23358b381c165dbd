//! The authorization matrix: every `/api` operation of the OpenAPI document (generated from
//! the handlers, so a new route is in it) called as anonymous, a user, an admin and root, each
//! answered as the role the document states requires; and one user's resources (keys) out of
//! another user's reach.

use crate::helpers::{Auth, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Anonymous,
    User,
    Admin,
    Root,
}

/// The role an operation needs, as the document states it (`None`: public).
fn needs(op: &Value) -> Option<Role> {
    let security = op["security"].as_array()?;
    let scopes: Vec<&str> = security
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|r| r.values())
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    Some(if scopes.contains(&"root") {
        Role::Root
    } else if scopes.contains(&"admin") {
        Role::Admin
    } else {
        Role::User
    })
}

async fn caller(app: &TestApp, role: Role, n: usize) -> Option<Auth> {
    match role {
        Role::Anonymous => None,
        Role::User => Some(app.new_user(&format!("matrix_u{n}")).await),
        Role::Admin => Some(app.new_admin(&format!("matrix_a{n}")).await),
        Role::Root => Some(app.root().await),
    }
}

async fn every_api_route_answers_each_role_as_documented(app: TestApp) {
    let doc = serde_json::to_value(server::openapi()).unwrap();
    let mut ops: Vec<(String, String, Value)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/api/"))
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(|(m, op)| (m.to_uppercase(), path.clone(), op.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(ops.len() >= 40, "{} operations", ops.len());
    // Ending a session or deleting oneself last: the callers are made afresh anyway.
    ops.sort_by_key(|(m, p, _)| {
        (
            p.ends_with("/logout") || (m == "DELETE" && p.ends_with("/self")),
            p.clone(),
        )
    });
    let mut n = 0;
    for (method, path, op) in &ops {
        let need = needs(op);
        // Ids that exist nowhere: nothing is changed whoever passes the check.
        let url = path.replace("{id}", "999999");
        for role in [Role::Anonymous, Role::User, Role::Admin, Role::Root] {
            n += 1;
            let auth = caller(&app, role, n).await;
            let rb = app.client.request(method.parse().unwrap(), app.url(&url));
            let rb = if matches!(method.as_str(), "POST" | "PUT") {
                rb.json(&json!({}))
            } else {
                rb
            };
            let (status, v) = app.send(auth.as_ref(), rb).await;
            let at = format!("{method} {path} as {role:?}: {status} {v}");
            match need {
                // A rule, not a role: the root user cannot delete itself.
                _ if role == Role::Root && method == "DELETE" && path == "/api/user/self" => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{at}")
                }
                Some(need) if role == Role::Anonymous => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{at} (needs {need:?})")
                }
                Some(need) if role < need => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{at} (needs {need:?})")
                }
                _ => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
                        || path.ends_with("/login"),
                    "{at}"
                ),
            }
            assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{at}");
        }
    }
}

/// One user's keys are out of another's reach: not listed, read, changed or deleted.
async fn another_users_keys_are_out_of_reach(app: TestApp) {
    let owner = app.new_user("owner").await;
    let other = app.new_user("other").await;
    app.api_key(&owner, json!({"name": "mine"})).await;
    let (_, v) = app.get(Some(&owner), "/api/token").await;
    let id = v["data"][0]["id"].as_i64().unwrap();
    let (_, v) = app.get(Some(&other), "/api/token").await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(0), "{v}");
    let (status, _) = app.get(Some(&other), &format!("/api/token/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            Some(&other),
            "/api/token",
            json!({"id": id, "name": "taken"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(Some(&other), &format!("/api/token/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = app.get(Some(&owner), &format!("/api/token/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["name"], "mine", "unchanged");
}

db_tests!(
    every_api_route_answers_each_role_as_documented,
    another_users_keys_are_out_of_reach
);
