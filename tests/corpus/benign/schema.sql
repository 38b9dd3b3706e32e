CREATE TABLE IF NOT EXISTS layanan (
  id INT AUTO_INCREMENT PRIMARY KEY,
  nama VARCHAR(200) NOT NULL
);
INSERT INTO layanan (nama) VALUES ('Perizinan');
INSERT INTO layanan (nama) VALUES ('Kependudukan');
