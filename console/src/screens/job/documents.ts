// What the job detail asks for: the job, its chunks, children and history, its live events,
// and the lifecycle mutations whose answers patch it (the log has logDocuments.ts).
import { graphql } from "../../graphql";
import { RecordRowFields } from "../jobs/documents";

export const ProgressFields = graphql(`
  fragment ProgressFields on Progress {
    total
    done
    succeeded
    failed
    skipped
    interrupted
    canceled
    percent
    estimated
  }
`);

export const JobDetailFields = graphql(
  `
    fragment JobDetailFields on Job {
      id
      seq
      name
      type
      system
      hidden
      stoppable
      restartable
      lowPriority
      stalled
      waitingReason
      tenant {
        slug
        name
      }
      status
      outcome
      error
      hasErrors
      chunkSize
      runBy {
        name
        kind
      }
      createdAt
      startedAt
      endedAt
      waitingSeconds
      durationSeconds
      progress {
        ...ProgressFields
      }
      childrenProgress {
        ...ProgressFields
      }
      parent {
        id
        name
      }
      restartedFrom {
        id
        name
      }
    }
  `,
  [ProgressFields],
);

export const JobDetailQuery = graphql(
  `
    query JobDetail($id: ID!) {
      job(id: $id) {
        ...JobDetailFields
      }
    }
  `,
  [JobDetailFields],
);

export const HistoryFields = graphql(`
  fragment HistoryFields on JobEvent {
    seq
    kind
    at
    fromStatus
    toStatus
    operation
    actor {
      kind
      name
    }
    changes {
      field
      value
    }
  }
`);

export const JobUpdated = graphql(
  `
    subscription JobUpdated($id: ID!, $afterSeq: Int) {
      jobUpdated(id: $id, afterSeq: $afterSeq) {
        ...HistoryFields
        job {
          ...JobDetailFields
        }
      }
    }
  `,
  [HistoryFields, JobDetailFields],
);

export const HistoryQuery = graphql(
  `
    query JobHistory($id: ID!, $first: Int!, $after: String) {
      job(id: $id) {
        id
        history(first: $first, after: $after) {
          edges {
            node {
              ...HistoryFields
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
  [HistoryFields],
);

export const ChunksQuery = graphql(
  `
    query JobChunks($id: ID!, $first: Int!, $after: String) {
      job(id: $id) {
        id
        chunks(first: $first, after: $after) {
          edges {
            node {
              id
              index
              status
              attempts
              progress {
                ...ProgressFields
              }
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
  [ProgressFields],
);

export const ChunkRecordsQuery = graphql(
  `
    query ChunkRecords($chunk: ID!, $first: Int!, $after: String) {
      node(id: $chunk) {
        ... on Chunk {
          id
          records(first: $first, after: $after) {
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
    }
  `,
  [RecordRowFields],
);

export const ChildFields = graphql(
  `
    fragment ChildFields on Job {
      id
      name
      type
      status
      outcome
      progress {
        ...ProgressFields
      }
      children(first: 1) {
        totalCount
      }
    }
  `,
  [ProgressFields],
);

export const ChildrenQuery = graphql(
  `
    query JobChildren($id: ID!, $first: Int!, $after: String) {
      job(id: $id) {
        id
        children(first: $first, after: $after) {
          totalCount
          edges {
            node {
              ...ChildFields
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
  [ChildFields],
);

const OperationResult = graphql(
  `
    fragment OperationResult on JobOperationResult {
      __typename
      ... on JobOperationSuccess {
        job {
          ...JobDetailFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  `,
  [JobDetailFields],
);

const Started = graphql(`
  fragment Started on StartJobResult {
    __typename
    ... on JobStarted {
      job {
        id
      }
    }
    ... on Error {
      code
      message
    }
  }
`);

export const StopJob = graphql(
  `
    mutation StopJob($id: ID!) {
      result: stopJob(id: $id) {
        ...OperationResult
      }
    }
  `,
  [OperationResult],
);

export const ForceStopJob = graphql(
  `
    mutation ForceStopJob($id: ID!) {
      result: forceStopJob(id: $id) {
        ...OperationResult
      }
    }
  `,
  [OperationResult],
);

export const ResumeJob = graphql(
  `
    mutation ResumeJob($id: ID!) {
      result: resumeJob(id: $id) {
        ...OperationResult
      }
    }
  `,
  [OperationResult],
);

export const CancelJob = graphql(
  `
    mutation CancelJob($id: ID!) {
      result: cancelJob(id: $id) {
        ...OperationResult
      }
    }
  `,
  [OperationResult],
);

export const HideJob = graphql(
  `
    mutation HideJob($id: ID!) {
      result: hideJob(id: $id) {
        ...OperationResult
      }
    }
  `,
  [OperationResult],
);

export const UnhideJob = graphql(
  `
    mutation UnhideJob($id: ID!) {
      result: unhideJob(id: $id) {
        ...OperationResult
      }
    }
  `,
  [OperationResult],
);

export const SetJobLowPriority = graphql(
  `
    mutation SetJobLowPriority($id: ID!, $lowPriority: Boolean!) {
      result: setJobLowPriority(id: $id, lowPriority: $lowPriority) {
        ...OperationResult
      }
    }
  `,
  [OperationResult],
);

export const RestartJob = graphql(
  `
    mutation RestartJob($id: ID!) {
      result: restartJob(id: $id) {
        ...Started
      }
    }
  `,
  [Started],
);

export const RetryFailedRecords = graphql(
  `
    mutation RetryFailedRecords($id: ID!) {
      result: retryFailedRecords(jobId: $id) {
        ...Started
      }
    }
  `,
  [Started],
);
