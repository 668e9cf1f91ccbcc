export {
  DEFAULT_MAX_SERIES,
  RemoteWriteConverter,
  SAMPLE_KINDS,
  SKIP_REASONS,
  tagsOf,
  type ConvertResult,
  type ConverterOptions,
  type HistogramIncrements,
  type RemoteWriteSink,
  type SampleKind,
  type SkipReason,
} from './converter.js';
export { decodeRemoteWrite, isStaleMarker, type RemoteWriteSample, type RemoteWriteRequest, type RemoteWriteSeries, type RemoteWriteVersion } from './decode.js';
export { RemoteWriteError, SinkUnavailableError, type RemoteWriteProblemCode } from './errors.js';
export { REMOTE_WRITE_PATH, registerRemoteWrite, remoteWritePlugin, type RemoteWriteOptions } from './plugin.js';
