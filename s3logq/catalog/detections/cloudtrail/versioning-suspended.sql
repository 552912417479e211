-- name: versioning-suspended
-- title: Versioning suspended
-- severity: medium
-- logs: cloudtrail
-- technique: T1490
-- description: A successful PutBucketVersioning with status Suspended, or one that turns MFA delete off:
-- description: overwritten and deleted objects can no longer be recovered (a step before mass deletion or
-- description: ransomware).
-- identity: eventid
-- evidence: run bucket-config-changes --logs cloudtrail --bucket {bucket_name} --since {event_time}
SELECT event_time, bucket_name, object_key,
       coalesce(user_arn, nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, '')) AS principal,
       sourceipaddress AS source_ip,
       CASE WHEN json_extract_string(requestparameters, '$.VersioningConfiguration.Status') = 'Suspended'
            THEN 'versioning suspended' ELSE 'MFA delete disabled' END AS detail,
       eventid, eventname, account_id
FROM cloudtrail
WHERE eventsource = 's3.amazonaws.com'
  AND errorcode IS NULL
  AND eventname = 'PutBucketVersioning'
  AND (json_extract_string(requestparameters, '$.VersioningConfiguration.Status') = 'Suspended'
       OR json_extract_string(requestparameters, '$.VersioningConfiguration.MfaDelete') = 'Disabled')
  AND ($since IS NULL OR event_time >= $since)
  AND ($until IS NULL OR event_time < $until)
ORDER BY event_time, eventid
