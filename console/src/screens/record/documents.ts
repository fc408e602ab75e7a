// What the record journey asks for: the record with its steps, what its job type's waits
// expect as an answer, and the answer itself.
import { graphql } from "../../graphql";

export const JourneyFields = graphql(`
  fragment JourneyFields on Record {
    id
    key
    position
    status
    outcome
    error
    attempts
    startedAt
    endedAt
    durationSeconds
    chunk {
      id
      index
    }
    job {
      id
      name
      type
      status
      seq
    }
    journey {
      name
      status
      startedAt
      endedAt
      durationSeconds
      detail
      error
      waitedSeconds
      answeredBy
    }
  }
`);

export const RecordQuery = graphql(
  `
    query RecordJourney($id: ID!) {
      node(id: $id) {
        __typename
        ... on Record {
          ...JourneyFields
        }
      }
    }
  `,
  [JourneyFields],
);

export const WaitAnswersQuery = graphql(`
  query WaitAnswers {
    jobTypes {
      name
      steps {
        name
        answerSchema
      }
    }
  }
`);

export const RecordJobUpdated = graphql(`
  subscription RecordJobUpdated($id: ID!, $afterSeq: Int) {
    jobUpdated(id: $id, afterSeq: $afterSeq) {
      seq
    }
  }
`);

export const CompleteWait = graphql(
  `
    mutation CompleteWait($id: ID!, $payload: JSON) {
      result: completeWait(recordId: $id, payload: $payload) {
        __typename
        ... on RecordOperationSuccess {
          record {
            ...JourneyFields
          }
        }
        ... on Error {
          code
          message
        }
      }
    }
  `,
  [JourneyFields],
);
