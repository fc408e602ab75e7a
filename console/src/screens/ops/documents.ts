// What the Live ops page shows: the summary, pushed again whenever it changes.
import { graphql } from "../../graphql";

export const ListedJobFields = graphql(`
  fragment ListedJobFields on Job {
    id
    name
    type
    tenant {
      slug
    }
    startedAt
    endedAt
  }
`);

export const LiveOpsUpdates = graphql(
  `
    subscription LiveOpsUpdates {
      liveOps {
        counts {
          status
          count
        }
        stalled
        stalledJobs {
          ...ListedJobFields
        }
        failedLast24h
        failedJobsLast24h {
          ...ListedJobFields
        }
        avgWaitSecondsLastHour
        workersOnline
        queueDepth
      }
    }
  `,
  [ListedJobFields],
);
