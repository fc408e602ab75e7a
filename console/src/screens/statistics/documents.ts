// What the Statistics page asks for: the buckets it charts, and what its filters offer.
import { graphql } from "../../graphql";

export const StatisticsQuery = graphql(`
  query Statistics($from: DateTime!, $to: DateTime!, $bucket: StatsBucketSize!, $tenantId: ID, $type: String) {
    jobStatistics(from: $from, to: $to, bucket: $bucket, tenantId: $tenantId, type: $type) {
      buckets {
        start
        created
        started
        finished
        failed
        waitAvg
        waitMin
        waitMax
        waitP95
        durationAvg
        durationP95
        recordsProcessed
      }
    }
  }
`);

/** The filters' choices: job types, and for the platform the tenants. */
export const StatisticsChoicesQuery = graphql(`
  query StatisticsChoices($platform: Boolean!) {
    jobTypes {
      name
      system
    }
    tenants @include(if: $platform) {
      id
      slug
      name
    }
  }
`);
