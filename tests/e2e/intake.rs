//! Every sample event parses into the right trigger; variations real deliveries produce are
//! tolerated; malformed input is rejected with a clear error.

use autoheal::intake::{self, AlarmState, AlarmVia, SecretEventKind, Trigger};
use autoheal::report::TriggerKind;
use autoheal_tests::sample_event;
use serde_json::json;

#[test]
fn every_sample_event_parses_into_the_right_trigger() {
    let cases = [
        ("alarm-direct-error-spike.json", TriggerKind::Alarm, "ViewerAtlas-Collector-Error-Spike"),
        ("alarm-eventbridge-snapshot-stalled.json", TriggerKind::Alarm, "ViewerAtlas-Collector-Snapshot-Stalled"),
        ("alarm-sns-collector-unavailable.json", TriggerKind::Alarm, "ViewerAtlas-ECSCollector-Unavailable"),
        ("ecs-deployment-failed-collector.json", TriggerKind::Deployment, "vieweratlas-collector"),
        ("ecs-task-stopped-analysis.json", TriggerKind::TaskStopped, "vieweratlas-analysis"),
        ("schedule-freshness.json", TriggerKind::Schedule, "vieweratlas-autoheal-freshness"),
        ("secret-rotation-succeeded.json", TriggerKind::SecretChange, "arn:aws:secretsmanager:us-east-1:123456789012:secret:vieweratlas/twitch/oauth_token-Ab12Cd"),
        ("secret-update-oauth-token.json", TriggerKind::SecretChange, "arn:aws:secretsmanager:us-east-1:123456789012:secret:vieweratlas/twitch/oauth_token-Ab12Cd"),
    ];
    let dir = autoheal_tests::repo_root().join("tests/fixtures/events");
    let on_disk = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(on_disk, cases.len(), "a sample event has no test case");
    for (file, kind, name) in cases {
        let t = intake::parse(&sample_event(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let r = t.reference();
        assert_eq!(r.kind, kind, "{file}");
        assert_eq!(r.name, name, "{file}");
        assert!(!r.id.is_empty(), "{file}");
    }
}

#[test]
fn sample_details_are_read_correctly() {
    let Trigger::Alarm(a) =
        intake::parse(&sample_event("alarm-sns-collector-unavailable.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (a.via, a.state, a.previous),
        (AlarmVia::Sns, AlarmState::Alarm, Some(AlarmState::Ok))
    );
    assert_eq!(a.id, "0f3c2b1a-9d8e-5f4a-b3c2-1d0e9f8a7b6c");
    assert_eq!(a.metrics[0].name, "RunningTaskCount");
    assert_eq!(
        a.description.as_deref(),
        Some("Collector running task count dropped below 1")
    );

    let Trigger::Alarm(d) = intake::parse(&sample_event("alarm-direct-error-spike.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(d.via, AlarmVia::DirectAction);
    assert_eq!(d.id, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ViewerAtlas-Collector-Error-Spike@2026-11-28T10:25:00.093+0000");
    assert_eq!(d.metrics[0].namespace, "ViewerAtlas/Collector");

    let Trigger::SecretChange(u) =
        intake::parse(&sample_event("secret-update-oauth-token.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (u.kind, u.event_name.as_str()),
        (SecretEventKind::ApiCall, "UpdateSecret")
    );
    assert_eq!(
        u.version_id.as_deref(),
        Some("a1b2c3d4-e5f6-4789-9abc-def012345678")
    );
    let Trigger::SecretChange(r) =
        intake::parse(&sample_event("secret-rotation-succeeded.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (r.kind, r.event_name.as_str()),
        (SecretEventKind::ServiceEvent, "RotationSucceeded")
    );

    let Trigger::TaskChange(t) =
        intake::parse(&sample_event("ecs-task-stopped-analysis.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!((t.revision, t.last_status.as_str()), (Some(7), "STOPPED"));
    assert_eq!(t.containers[0].exit_code, Some(1));
    assert_eq!(
        t.started_by.as_deref(),
        Some("events-rule/vieweratlas-analysis-daily")
    );

    let Trigger::Deployment(d) =
        intake::parse(&sample_event("ecs-deployment-failed-collector.json")).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (d.cluster.as_deref(), d.event_name.as_str()),
        (Some("vieweratlas-cluster"), "SERVICE_DEPLOYMENT_FAILED")
    );
    assert_eq!(
        d.deployment_id.as_deref(),
        Some("ecs-svc/4815162342108157000")
    );
}

#[test]
fn real_world_variations_are_tolerated() {
    // SNS without the optional envelope fields, with a null description, an OK transition and
    // unknown extra fields.
    let mut ev = sample_event("alarm-sns-collector-unavailable.json");
    let msg = ev["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .to_string();
    let mut inner: serde_json::Value = serde_json::from_str(&msg).unwrap();
    inner["AlarmDescription"] = serde_json::Value::Null;
    inner["NewStateValue"] = json!("OK");
    inner["SomethingNew"] = json!({"x": 1});
    let rec = &mut ev["Records"][0]["Sns"];
    rec["Message"] = json!(inner.to_string());
    for field in [
        "Signature",
        "SigningCertUrl",
        "UnsubscribeUrl",
        "MessageAttributes",
        "Subject",
    ] {
        rec.as_object_mut().unwrap().remove(field);
    }
    let Trigger::Alarm(a) = intake::parse(&ev).unwrap() else {
        panic!()
    };
    assert_eq!((a.state, a.description), (AlarmState::Ok, None));

    // An old-format service ARN without the cluster.
    let mut dep = sample_event("ecs-deployment-failed-collector.json");
    dep["resources"] = json!(["arn:aws:ecs:us-east-1:123456789012:service/vieweratlas-collector"]);
    let Trigger::Deployment(d) = intake::parse(&dep).unwrap() else {
        panic!()
    };
    assert_eq!(
        (d.service.as_str(), d.cluster),
        ("vieweratlas-collector", None)
    );

    // A PutSecretValue whose response spells the ARN `aRN` and which has no requestParameters.
    let mut put = sample_event("secret-update-oauth-token.json");
    put["detail"]["eventName"] = json!("PutSecretValue");
    put["detail"]["requestParameters"] = serde_json::Value::Null;
    put["detail"]["responseElements"] = json!({"aRN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:vieweratlas/twitch/client_id-Zz99Yy"});
    let Trigger::SecretChange(s) = intake::parse(&put).unwrap() else {
        panic!()
    };
    assert!(s.secret_id.ends_with("client_id-Zz99Yy"));

    // The raw alarm notification JSON (what an operator copies out of an email) is accepted too.
    let Trigger::Alarm(n) = intake::parse(&inner).unwrap() else {
        panic!()
    };
    assert_eq!(n.via, AlarmVia::Notification);
}

#[test]
fn malformed_and_unknown_events_are_rejected_with_a_clear_error() {
    let cases = [
        (json!(null), "not a JSON object"),
        (json!({"Records": []}), "0 records"),
        (
            json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
            "aws:sqs",
        ),
        (
            json!({"version": "0", "id": "x", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {"state": {"value": "ALARM"}}}),
            "alarmName",
        ),
        (
            json!({"id": "x", "detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": {"taskArn": "t"}}),
            "taskDefinitionArn",
        ),
        (
            json!({"id": "x", "detail-type": "ECS Deployment State Change", "source": "aws.ecs", "resources": [], "detail": {"eventName": "SERVICE_DEPLOYMENT_FAILED"}}),
            "service ARN",
        ),
        (
            json!({"id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.secretsmanager", "detail": {"eventName": "UpdateSecret"}}),
            "names no secret",
        ),
        (
            json!({"source": "aws.cloudwatch", "alarmData": {"state": {"value": "ALARM"}}}),
            "alarm",
        ),
    ];
    for (ev, needle) in cases {
        let err = intake::parse(&ev).expect_err(&ev.to_string()).to_string();
        assert!(
            err.contains(needle),
            "{ev}: error {err:?} should mention {needle:?}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
