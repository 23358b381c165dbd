//! How long an uploaded recording plays, read from its container with `symphonia` (MP3, WAV,
//! FLAC, Ogg, MP4/M4A, WebM/Matroska) without decoding it: the track's frame count when the
//! container states it, else the sum of its packets' durations. A transcription priced by the
//! minute is reserved for that long; a file whose length cannot be read is reserved at the
//! longest its size could play ([`worst_seconds`]).

use bytes::Bytes;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The lowest bitrate a recording is assumed to have, in bytes a second (8 kbit/s: below
/// what speech codecs use), for a file whose length cannot be read.
const WORST_BYTES_PER_SECOND: usize = 1_000;

/// Whole seconds (rounded up) `data` plays, or `None` when no container reader knows it.
pub(crate) fn seconds(data: Bytes, filename: Option<&str>) -> Option<i64> {
    let mut hint = Hint::new();
    if let Some(ext) = filename.and_then(|f| f.rsplit_once('.')).map(|(_, e)| e) {
        hint.with_extension(ext);
    }
    let source = MediaSourceStream::new(Box::new(std::io::Cursor::new(data)), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .ok()?;
    let mut reader = probed.format;
    let track = reader.default_track()?;
    let (id, params) = (track.id, track.codec_params.clone());
    let time_base = params.time_base.or_else(|| {
        params
            .sample_rate
            .map(|r| symphonia::core::units::TimeBase::new(1, r))
    })?;
    // The container's own count can lie (an MP3's Xing header, a WAV's data size): the
    // packets are walked whatever it says, and the longer of the two counts.
    let mut walked = 0_u64;
    while let Ok(packet) = reader.next_packet() {
        if packet.track_id() == id {
            walked = walked.saturating_add(packet.dur);
        }
    }
    let frames = params.n_frames.unwrap_or(0).max(walked);
    let time = time_base.calc_time(frames);
    let seconds = time.seconds.saturating_add(u64::from(time.frac > 0.0));
    i64::try_from(seconds).ok().filter(|s| *s > 0)
}

/// The highest bitrate a recording is assumed to have, in bytes a second (1.6 Mbit/s: above
/// CD-quality PCM and every lossy codec): a file plays at least its size at this rate, whatever
/// its container says.
const BEST_BYTES_PER_SECOND: usize = 200_000;

/// The shortest a file of `bytes` can play.
pub(crate) fn least_seconds(bytes: usize) -> i64 {
    i64::try_from(bytes.div_ceil(BEST_BYTES_PER_SECOND)).unwrap_or(i64::MAX)
}

/// The longest a file of `bytes` could play: what is reserved when its length is unknown.
pub(crate) fn worst_seconds(bytes: usize) -> i64 {
    i64::try_from(bytes.div_ceil(WORST_BYTES_PER_SECOND).max(1)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_upstream::fees::wav;

    #[test]
    fn reads_a_recordings_length() {
        assert_eq!(seconds(Bytes::from(wav(90)), Some("talk.wav")), Some(90));
        assert_eq!(seconds(Bytes::from(wav(3)), None), Some(3));
        assert!(seconds(Bytes::from(vec![7_u8; 5_000]), Some("x.mp3")).is_none());
        assert_eq!(worst_seconds(25 << 20), 26_215);
        assert_eq!(worst_seconds(10), 1);
        assert_eq!(least_seconds(25 << 20), 132);
        // A WAV whose header claims one second of a minute's data: the packets tell.
        let mut lying = wav(60);
        lying[40..44].copy_from_slice(&8_000_u32.to_le_bytes());
        assert!(seconds(Bytes::from(lying), Some("x.wav")).is_some_and(|s| s >= 1));
    }
}
