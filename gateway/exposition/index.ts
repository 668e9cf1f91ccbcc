export { escapeMetricName } from './escape.js';
export { DEFAULT_HELP, EXPOSITION_DROP_REASONS, Exposition, type ExpositionDropReason, type ExpositionOptions } from './exposition.js';
export { DEFAULT_BUCKETS, DEFAULT_QUANTILES, Mapping, MappingError, defaultMapping, loadMapping, type MappingMatch, type MappingRule } from './mapping.js';
export { TEXT_CONTENT_TYPE, startExpositionServer, type ExpositionServerOptions, type RunningExpositionServer } from './server.js';
