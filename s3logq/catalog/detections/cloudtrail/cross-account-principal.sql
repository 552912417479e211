-- name: cross-account-principal
-- title: Access from a principal of another account
-- severity: medium
-- logs: cloudtrail
-- technique: T1078.004
-- description: Successful S3 calls made by a principal of an account other than the one that received the
-- description: event (the bucket owner's), once per principal and bucket; AWS services, anonymous callers and
-- description: the trusted accounts are left out.
-- threshold: trusted_accounts = "": account IDs whose principals are expected (comma-separated)
-- identity: bucket_name, principal
-- evidence: run object-access --logs cloudtrail --bucket {bucket_name} --requester {principal} --since {event_time}
WITH calls AS (
  SELECT *, coalesce(user_arn, useridentity.principalid) AS principal
  FROM cloudtrail
  WHERE eventsource = 's3.amazonaws.com'
    AND errorcode IS NULL
    AND useridentity.accountid IS NOT NULL
    AND useridentity.accountid NOT IN ('anonymous', 'ANONYMOUS_PRINCIPAL', '')
    AND coalesce(useridentity.type, '') NOT IN ('AWSService', 'AWSAccount')
    AND useridentity.accountid <> recipientaccountid
    AND NOT list_contains(string_split(replace($trusted_accounts, ' ', ''), ','), useridentity.accountid)
    AND ($since IS NULL OR event_time >= $since)
    AND ($until IS NULL OR event_time < $until)
)
SELECT min(event_time) AS event_time, bucket_name, arg_min(object_key, event_time) AS object_key, principal,
       arg_min(sourceipaddress, event_time) AS source_ip,
       'principal of account ' || min(useridentity.accountid) || ' made ' || count(*) || CASE WHEN count(*) = 1 THEN ' call (' ELSE ' calls (' END
         || array_to_string(list_sort(list_distinct(list(eventname))), ', ') || ')' AS detail,
       min(useridentity.accountid) AS principal_account, count(*) AS calls
FROM calls
GROUP BY bucket_name, principal
ORDER BY event_time, bucket_name, principal
