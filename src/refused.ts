/** A refusal the operator can act on (a start, a CLI command): printed as one line, without a stack. */
export class Refused extends Error {}
