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

/** A bulk operation as the Jobs page's progress panel shows it, with the jobs it could not change. */
export const BulkOperationFields = graphql(`
  fragment BulkOperationFields on BulkOperation {
    id
    action
    status
    total
    done
    succeeded
    failed
    errors(first: 50) {
      totalCount
      edges {
        node {
          jobId
          code
          message
          job {
            id
            name
          }
        }
      }
    }
  }
`);

export const BulkPreviewQuery = graphql(`
  query BulkPreview($input: StartBulkOperationInput!) {
    bulkPreview(input: $input) {
      total
      eligible
    }
  }
`);

export const StartBulkOperation = graphql(
  `
    mutation StartBulkOperation($input: StartBulkOperationInput!) {
      result: startBulkOperation(input: $input) {
        __typename
        ... on BulkOperationStarted {
          bulkOperation {
            ...BulkOperationFields
          }
        }
        ... on Error {
          code
          message
        }
      }
    }
  `,
  [BulkOperationFields],
);

export const CancelBulkOperation = graphql(
  `
    mutation CancelBulkOperation($id: ID!) {
      result: cancelBulkOperation(id: $id) {
        __typename
        ... on BulkOperationCanceled {
          bulkOperation {
            ...BulkOperationFields
          }
        }
        ... on Error {
          code
          message
        }
      }
    }
  `,
  [BulkOperationFields],
);

export const BulkOperationUpdated = graphql(
  `
    subscription BulkOperationUpdated($id: ID!) {
      bulkOperationUpdated(id: $id) {
        ...BulkOperationFields
      }
    }
  `,
  [BulkOperationFields],
);

export const BulkOperationQuery = graphql(
  `
    query BulkOperation($id: ID!) {
      bulkOperation(id: $id) {
        ...BulkOperationFields
      }
    }
  `,
  [BulkOperationFields],
);
