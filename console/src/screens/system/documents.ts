// What the System jobs page asks for: exactly the fields its table shows, and what the
// action table needs to decide Delete entry and Unhide.
import { graphql } from "../../graphql";

export const SystemJobFields = graphql(`
  fragment SystemJobFields on Job {
    id
    name
    type
    system
    hidden
    stoppable
    restartable
    lowPriority
    tenant {
      slug
    }
    status
    outcome
    runBy {
      name
      kind
    }
    createdAt
    endedAt
    progress {
      total
      done
      succeeded
      failed
      skipped
      interrupted
      estimated
    }
  }
`);

export const SystemJobsQuery = graphql(
  `
    query SystemJobs($first: Int!, $after: String, $filter: JobFilter!) {
      jobs(first: $first, after: $after, filter: $filter) {
        edges {
          node {
            ...SystemJobFields
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
  [SystemJobFields],
);

/** The platform's job types: which are system ones, and what people call them. */
export const SystemJobTypesQuery = graphql(`
  query SystemJobTypes {
    jobTypes {
      name
      label
      system
    }
  }
`);
