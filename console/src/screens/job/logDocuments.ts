// What the job's log asks for: pages of lines either way from a line, with each line's record,
// and the stream that says new lines were written.
import { graphql } from "../../graphql";

export const LogFields = graphql(`
  fragment LogFields on LogEntry {
    id
    at
    level
    message
    fields
    chunkIndex
    recordKey
    record {
      id
    }
  }
`);

export const LogsQuery = graphql(
  `
    query JobLogs(
      $id: ID!
      $first: Int!
      $after: String
      $order: Direction!
      $level: LogLevel
      $search: String
      $since: DateTime
      $until: DateTime
      $counted: Boolean!
    ) {
      job(id: $id) {
        id
        logs(first: $first, after: $after, order: $order, level: $level, search: $search, since: $since, until: $until) {
          totalCount @include(if: $counted)
          edges {
            cursor
            node {
              ...LogFields
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
  [LogFields],
);

/** Only what tells whether a new line is one the reader's filters show: the lines come in pages. */
export const JobLogsLive = graphql(`
  subscription JobLogsLive($id: ID!, $level: LogLevel) {
    jobLogs(jobId: $id, level: $level) {
      id
      at
      message
    }
  }
`);
