// What the Jobs page asks for: exactly the fields it shows.
import { graphql } from "../../graphql";

export const RunFields = graphql(`
  fragment RunFields on Job {
    id
    seq
    name
    type
    system
    tenant {
      slug
    }
    status
    outcome
    lowPriority
    hasErrors
    runBy {
      id
      name
      kind
    }
    createdAt
    startedAt
    endedAt
    waitingSeconds
    durationSeconds
    progress {
      total
      done
      succeeded
      failed
      skipped
      percent
      estimated
    }
    childrenProgress {
      total
      done
      succeeded
      failed
      skipped
      percent
      estimated
    }
  }
`);

export const RunsQuery = graphql(
  `
    query Runs($first: Int!, $after: String, $filter: JobFilter) {
      jobs(first: $first, after: $after, filter: $filter) {
        edges {
          node {
            ...RunFields
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
        totalCount
      }
    }
  `,
  [RunFields],
);

export const RunsChanged = graphql(
  `
    subscription RunsChanged($filter: JobFilter, $afterSeq: BigInt) {
      jobsChanged(filter: $filter, afterSeq: $afterSeq) {
        seq
        tenantSeq
        kind
        job {
          ...RunFields
        }
      }
    }
  `,
  [RunFields],
);

/** A record as a row of a records table shows it. */
export const RecordRowFields = graphql(`
  fragment RecordRowFields on Record {
    id
    key
    status
    outcome
    error
    attempts
    durationSeconds
  }
`);

export const RecordsQuery = graphql(
  `
    query RunRecords($job: ID!, $first: Int!, $after: String, $status: [RecordStatus!]) {
      job(id: $job) {
        id
        records(first: $first, after: $after, status: $status) {
          edges {
            node {
              ...RecordRowFields
            }
          }
          pageInfo {
            hasNextPage
            endCursor
          }
        }
      }
    }
  `,
  [RecordRowFields],
);

export const JobTypesQuery = graphql(`
  query JobTypeNames {
    jobTypes {
      name
      system
    }
  }
`);
