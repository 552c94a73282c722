export {
  clearableText,
  deletedFlag,
  idParams,
  invalidFields,
  listOf,
  listQuery,
  optionalText,
  recordFields,
  recordView,
  rootAccount,
  rootAccountOf,
  text,
  type ListQuery,
  type Page,
  type RecordRow,
} from '@pep/service-kit';

export { sqlState } from '@pep/db';

export { dateFilter, instant, type DateBound } from '@pep/service-kit';
