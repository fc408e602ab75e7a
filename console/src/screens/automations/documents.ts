// What the Automations page asks for: the tenant's schedules with their last runs, the job
// types a schedule may start, and the mutations that manage them.
import { graphql } from "../../graphql";

export const ScheduleFields = graphql(`
  fragment ScheduleFields on Schedule {
    id
    name
    type
    params
    cron
    cronDescription
    timezone
    enabled
    nextRunAt
    nextRunAtLocal
    # The newest runs, each with who started it.
    lastRuns(first: 5) {
      startedBy {
        kind
        name
      }
      job {
        id
        status
        outcome
        createdAt
      }
    }
  }
`);

export const AutomationsQuery = graphql(
  `
    query Automations {
      schedules {
        ...ScheduleFields
      }
      jobTypes {
        name
        label
        system
        paramsSchema
      }
    }
  `,
  [ScheduleFields],
);

/** The events that may change a last run (or add one): the page reads its schedules again. */
export const RunsMoved = graphql(`
  subscription RunsMoved($filter: JobFilter) {
    jobsChanged(filter: $filter) {
      kind
      job {
        id
        name
      }
    }
  }
`);

const ScheduleResult = graphql(
  `
    fragment ScheduleResult on ScheduleOperationResult {
      __typename
      ... on ScheduleOperationSuccess {
        schedule {
          ...ScheduleFields
        }
      }
      ... on InvalidInputError {
        field
      }
      ... on Error {
        code
        message
      }
    }
  `,
  [ScheduleFields],
);

export const CreateSchedule = graphql(
  `
    mutation CreateSchedule($input: CreateScheduleInput!) {
      result: createSchedule(input: $input) {
        ...ScheduleResult
      }
    }
  `,
  [ScheduleResult],
);

export const UpdateSchedule = graphql(
  `
    mutation UpdateSchedule($id: ID!, $input: UpdateScheduleInput!) {
      result: updateSchedule(id: $id, input: $input) {
        ...ScheduleResult
      }
    }
  `,
  [ScheduleResult],
);

export const SetScheduleEnabled = graphql(
  `
    mutation SetScheduleEnabled($id: ID!, $enabled: Boolean!) {
      result: setScheduleEnabled(id: $id, enabled: $enabled) {
        ...ScheduleResult
      }
    }
  `,
  [ScheduleResult],
);

export const DeleteSchedule = graphql(`
  mutation DeleteSchedule($id: ID!) {
    result: deleteSchedule(id: $id) {
      __typename
      ... on ScheduleDeleted {
        id
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const RunScheduleNow = graphql(`
  mutation RunScheduleNow($id: ID!) {
    result: runScheduleNow(id: $id) {
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
  }
`);
