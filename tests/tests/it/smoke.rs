#![allow(clippy::unwrap_used, clippy::expect_used)]
use switchboard_testkit::*;

#[tokio::test]
async fn create_and_get_session() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let session = create_without_config(&mut s, "user_1").await.unwrap();
    assert!(session.id.starts_with("ses_"));
    let got = get_session(&mut s, &session.id).await.unwrap();
    assert_eq!(got, session);
    stack.stop().await;
}
