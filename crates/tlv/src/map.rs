//! A small ordered map from tag to value: the data elements known in one transaction.

use crate::{Builder, Tag};

/// Data elements by tag, in insertion order. Linear lookups: a transaction holds a few dozen
/// elements, for which a vector beats a tree or a hash map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagMap(Vec<(Tag, Vec<u8>)>);

impl TagMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `tag` to `value`, replacing an earlier value in place.
    pub fn put(&mut self, tag: Tag, value: &[u8]) {
        match self.0.iter_mut().find(|(t, _)| *t == tag) {
            Some(slot) => {
                slot.1.clear();
                slot.1.extend_from_slice(value);
            }
            None => self.0.push((tag, value.to_vec())),
        }
    }

    /// The value of `tag`.
    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    }

    /// True when `tag` has a value.
    pub fn contains(&self, tag: Tag) -> bool {
        self.0.iter().any(|(t, _)| *t == tag)
    }

    /// Every element, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Tag, &[u8])> {
        self.0.iter().map(|(t, v)| (*t, v.as_slice()))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// BER-TLV encoding of every element, in order.
    pub fn to_tlv(&self) -> Vec<u8> {
        let mut b = Builder::new();
        for (t, v) in &self.0 {
            b.put(*t, v);
        }
        b.finish()
    }
}

impl FromIterator<(Tag, Vec<u8>)> for TagMap {
    fn from_iter<I: IntoIterator<Item = (Tag, Vec<u8>)>>(iter: I) -> Self {
        let mut m = TagMap::new();
        for (t, v) in iter {
            m.put(t, &v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_in_place_and_keeps_order() {
        let mut m = TagMap::new();
        m.put(Tag(0x9F02), &[1]);
        m.put(Tag(0x9F37), &[2, 3]);
        m.put(Tag(0x9F02), &[4]);
        assert_eq!(m.get(Tag(0x9F02)), Some(&[4u8][..]));
        assert!(m.contains(Tag(0x9F37)) && !m.contains(Tag(0x5A)));
        assert_eq!(
            m.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            vec![Tag(0x9F02), Tag(0x9F37)]
        );
        assert_eq!(m.to_tlv(), vec![0x9F, 0x02, 1, 4, 0x9F, 0x37, 2, 2, 3]);
        assert_eq!(m.len(), 2);
    }
}
